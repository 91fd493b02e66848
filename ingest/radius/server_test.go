package radius

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2866"

	"github.com/simcore/simcore/metering"
)

const (
	start   = rfc2866.AcctStatusType_Value_Start
	interim = rfc2866.AcctStatusType_Value_InterimUpdate
	stop    = rfc2866.AcctStatusType_Value_Stop
	// ok is how long an answer is waited for: long, since only a failing
	// test waits it out, and a busy machine under -race can stall a
	// goroutine for seconds. none is how long silence is listened for.
	ok   = 10 * time.Second
	none = 300 * time.Millisecond
)

func send(t *testing.T, s testServer, secret []byte, u usage, wait time.Duration) *radius.Packet {
	t.Helper()
	return exchange(t, s.Addr(), acctPacket(t, secret, u), wait)
}

func mustAnswer(t *testing.T, s testServer, u usage) {
	t.Helper()
	resp := send(t, s, testSecret, u, ok)
	if resp == nil || resp.Code != radius.CodeAccountingResponse {
		t.Fatalf("no Accounting-Response to %+v", u)
	}
}

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	s := startServer(t, sink)
	before := time.Now().UTC().Truncate(time.Second)

	mustAnswer(t, s, usage{status: start})
	mustAnswer(t, s, usage{status: interim, sessionS: 60, in: 1000, out: 5000, delay: 10})
	after := time.Now().UTC() // the first interim was received before this
	mustAnswer(t, s, usage{status: interim, sessionS: 120, in: 2500, out: 9000})
	mustAnswer(t, s, usage{status: stop, sessionS: 150, in: 3000, out: 10000})

	recs := sink.records()
	uid := uniqueID("234150999999999@iot.example", "sess-0001", "10.1.2.3", "pgw-1", "", "7")
	base := metering.Record{Type: metering.TypeData, IMSI: "234150999999999", MSISDN: "447700900123",
		MCCMNC: "23415", RAT: "EUTRAN", NodeID: "pgw-1", ChargingID: 12345, PGWAddress: "10.1.2.3"}
	want := []metering.Record{
		with(base, 60, 1000, 5000, uid+"/t60i1000o5000", 1, causeTimeLimit),
		with(base, 60, 1500, 4000, uid+"/t120i2500o9000", 2, causeTimeLimit),
		with(base, 30, 500, 1000, uid+"/t150i3000o10000", 3, causeNormalRelease),
	}
	if diff := cmp.Diff(want, recs, cmpopts.IgnoreFields(metering.Record{}, "StartTime")); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	// The first interim was 10 s late and covers 60 s. It was received
	// between before and after, however slowly the exchanges ran.
	if got, lo, hi := recs[0].StartTime, before.Add(-70*time.Second), after.Add(-70*time.Second); got.Before(lo) || got.After(hi) {
		t.Errorf("StartTime = %v, want between %v and %v", got, lo, hi)
	}
	if dur, up, down := sink.totals(); dur != 150 || up != 3000 || down != 10000 {
		t.Errorf("totals = %d s, %d up, %d down; want 150, 3000, 10000", dur, up, down)
	}
	if got := s.count(typeStart, outcomeNoDelta); got != 1 {
		t.Errorf("start no_delta = %v, want 1", got)
	}
	if got := s.count(typeInterim, outcomeAccepted); got != 2 {
		t.Errorf("interim accepted = %v, want 2", got)
	}
}

func with(r metering.Record, dur uint32, up, down uint64, id string, seq uint32, cause uint8) metering.Record {
	r.DurationS, r.BytesUp, r.BytesDown, r.RecordID, r.Sequence, r.ClosingCause = dur, up, down, id, seq, cause
	return r
}

func TestGigawords(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	s := startServer(t, sink)
	mustAnswer(t, s, usage{status: interim, sessionS: 60, in: 4294967000, out: 10})
	// Input wrapped: 1 gigaword + 704 octets = 4294967296 + 704.
	mustAnswer(t, s, usage{status: stop, sessionS: 120, in: 704, inGiga: 1, out: 20, outGiga: 2})
	recs := sink.records()
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2", len(recs))
	}
	if got, want := recs[1].BytesUp, uint64(1<<32+704-4294967000); got != want {
		t.Errorf("BytesUp after wrap = %d, want %d", got, want)
	}
	if _, up, down := sink.totals(); up != 1<<32+704 || down != 2<<32+20 {
		t.Errorf("totals up %d down %d, want %d and %d", up, down, uint64(1<<32+704), uint64(2<<32+20))
	}
}

func TestRetransmission(t *testing.T) {
	t.Parallel()
	t.Run("after accept: answered, nothing emitted", func(t *testing.T) {
		t.Parallel()
		sink := &recordingSink{}
		s := startServer(t, sink)
		u := usage{status: interim, sessionS: 60, in: 1000, out: 2000}
		mustAnswer(t, s, u)
		u.delay = 5 // RFC 2866: a retransmission carries an updated delay
		mustAnswer(t, s, u)
		if n := len(sink.records()); n != 1 {
			t.Fatalf("got %d records, want 1", n)
		}
		if got := s.count(typeInterim, outcomeNoDelta); got != 1 {
			t.Errorf("interim no_delta = %v, want 1", got)
		}
	})
	t.Run("same RecordID when emitted twice", func(t *testing.T) {
		t.Parallel()
		// Two servers stand for a restart between the copies: no marks.
		u := usage{status: interim, sessionS: 60, in: 1000, out: 2000}
		var ids []string
		for range 2 {
			sink := &recordingSink{}
			s := startServer(t, sink)
			mustAnswer(t, s, u)
			u.delay += 3
			ids = append(ids, sink.records()[0].RecordID)
		}
		if ids[0] != ids[1] {
			t.Errorf("RecordIDs differ: %q, %q", ids[0], ids[1])
		}
	})
}

func TestOutOfOrder(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	s := startServer(t, sink)
	mustAnswer(t, s, usage{status: start})
	mustAnswer(t, s, usage{status: interim, sessionS: 120, in: 2000, out: 4000})
	mustAnswer(t, s, usage{status: interim, sessionS: 60, in: 1000, out: 1500}) // late
	mustAnswer(t, s, usage{status: stop, sessionS: 180, in: 3000, out: 6000})
	mustAnswer(t, s, usage{status: interim, sessionS: 60, in: 1000, out: 1500}) // after Stop
	if n := len(sink.records()); n != 2 {
		t.Errorf("got %d records, want 2", n)
	}
	if dur, up, down := sink.totals(); dur != 180 || up != 3000 || down != 6000 {
		t.Errorf("totals = %d s, %d up, %d down; want 180, 3000, 6000", dur, up, down)
	}
	if got := s.count(typeInterim, outcomeNoDelta); got != 2 {
		t.Errorf("interim no_delta = %v, want 2", got)
	}
}

func TestStopBeforeInterim(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	s := startServer(t, sink)
	mustAnswer(t, s, usage{status: stop, sessionS: 180, in: 3000, out: 6000})
	mustAnswer(t, s, usage{status: interim, sessionS: 60, in: 1000, out: 1500})
	mustAnswer(t, s, usage{status: start})
	if dur, up, down := sink.totals(); dur != 180 || up != 3000 || down != 6000 {
		t.Errorf("totals = %d s, %d up, %d down; want 180, 3000, 6000", dur, up, down)
	}
}

func TestWrongSecret(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	s := startServer(t, sink)
	if resp := send(t, s, []byte("not-the-secret"), usage{status: interim, sessionS: 60, in: 1}, none); resp != nil {
		t.Fatalf("answered a request with a wrong secret: %v", resp.Code)
	}
	if got := s.settled(typeUnknown, outcomeBadAuthenticator, 1); got != 1 {
		t.Errorf("bad_authenticator = %v, want 1", got)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.calls != 0 {
		t.Errorf("sink called %d times", sink.calls)
	}
}

func TestNotAccounting(t *testing.T) {
	t.Parallel()
	s := startServer(t, &recordingSink{})
	p := radius.New(radius.CodeAccessRequest, testSecret)
	if resp := exchange(t, s.Addr(), p, none); resp != nil {
		t.Fatalf("answered an Access-Request: %v", resp.Code)
	}
	if got := s.settled(typeNotAccounting, outcomeDropped, 1); got != 1 {
		t.Errorf("not_accounting dropped = %v, want 1", got)
	}
}

func TestSinkFailure(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{fail: func(call int) bool { return call <= 2 }}
	s := startServer(t, sink)
	u := usage{status: interim, sessionS: 60, in: 1000, out: 2000}
	for range 2 {
		if resp := send(t, s, testSecret, u, none); resp != nil {
			t.Fatal("answered although the sink failed")
		}
		u.delay++
	}
	if got := s.settled(typeInterim, outcomeSinkError, 2); got != 2 {
		t.Errorf("sink_error = %v, want 2", got)
	}
	mustAnswer(t, s, u) // the sink recovered
	recs := sink.records()
	if len(recs) != 1 || recs[0].BytesUp != 1000 || recs[0].Sequence != 1 {
		t.Fatalf("records after recovery = %+v, want one with 1000 bytes up, sequence 1", recs)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}, &recordingSink{}); err == nil {
		t.Error("New accepted an empty secret")
	}
	if _, err := New(Config{Secret: testSecret}, nil); err == nil {
		t.Error("New accepted a nil sink")
	}
}

// TestNoChargingIDNoBearer: without 3GPP-Charging-ID a record names no
// bearer, so the session list shows it on its own instead of merging it
// with every other record of the NAS.
func TestNoChargingIDNoBearer(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	s := startServer(t, sink)
	mustAnswer(t, s, usage{status: interim, sessionS: 60, in: 10, out: 20, omitVendorExtras: true})
	recs := sink.records()
	if len(recs) != 1 || recs[0].ChargingID != 0 || recs[0].PGWAddress != "" {
		t.Fatalf("records = %+v, want one without a bearer", recs)
	}
}

// TestBurstAnsweredToEachNAS: requests from many NAS sockets at once are
// read and answered in batches; each NAS gets the answer to its own
// request (radius.Client checks the Response Authenticator against it),
// and every answer is timed.
func TestBurstAnsweredToEachNAS(t *testing.T) {
	sink := &recordingSink{}
	s := startServer(t, sink)
	const nases, each = 32, 8
	var wg sync.WaitGroup
	for n := range nases {
		wg.Go(func() {
			for i := range each {
				u := usage{status: rfc2866.AcctStatusType_Value_InterimUpdate, sessionS: uint32(60 * (i + 1)),
					in: uint32(1000 * (i + 1)), acctSessionID: fmt.Sprintf("burst-%d", n)}
				if resp := send(t, s, testSecret, u, ok); resp == nil || resp.Code != radius.CodeAccountingResponse {
					t.Errorf("NAS %d request %d: no Accounting-Response", n, i)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := len(sink.records()); got != nases*each {
		t.Fatalf("%d records accepted, want %d", got, nases*each)
	}
	// The server times an answer once its write returns, which can be just
	// after the NAS has read it: wait for the last observations to land.
	got := 0
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got = histogramCount(t, s.reg, "simcore_radius_response_duration_seconds")
		if got >= nases*each || time.Now().After(deadline) {
			break
		}
	}
	if got != nases*each {
		t.Fatalf("%d answers timed, want %d", got, nases*each)
	}
}

// TestIPv6 serves a NAS over IPv6 loopback.
func TestIPv6(t *testing.T) {
	sink := &recordingSink{}
	s, err := New(Config{Addr: "[::1]:0", Secret: testSecret}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("listen on ::1 (this test needs IPv6 loopback): %v", err)
	}
	t.Cleanup(func() { s.Close() })
	resp := exchange(t, s.Addr(), acctPacket(t, testSecret, usage{status: interim, sessionS: 60, in: 1000}), ok)
	if resp == nil || resp.Code != radius.CodeAccountingResponse {
		t.Fatal("no Accounting-Response over IPv6")
	}
	if len(sink.records()) != 1 {
		t.Fatalf("records: %+v", sink.records())
	}
}

// histogramCount returns the sample count of the histogram name in reg.
func histogramCount(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return int(mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
