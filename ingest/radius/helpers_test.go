package radius

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"github.com/simcore/simcore/metering"
)

var testSecret = []byte("s3cret-testing")

// recordingSink stores accepted records; fail, when set, decides whether a
// call fails instead.
type recordingSink struct {
	mu    sync.Mutex
	recs  []metering.Record
	calls int
	fail  func(call int) bool
}

func (s *recordingSink) Accept(_ context.Context, recs []metering.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil && s.fail(s.calls) {
		return errors.New("sink unavailable")
	}
	s.recs = append(s.recs, recs...)
	return nil
}

func (s *recordingSink) records() []metering.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]metering.Record(nil), s.recs...)
}

// totals sums the records as a deduplicating store would (first copy of a
// (NodeID, RecordID) wins).
func (s *recordingSink) totals() (dur, up, down uint64) {
	seen := map[metering.Key]bool{}
	for _, r := range s.records() {
		if seen[r.Key()] {
			continue
		}
		seen[r.Key()] = true
		dur += uint64(r.DurationS)
		up += r.BytesUp
		down += r.BytesDown
	}
	return dur, up, down
}

type testServer struct {
	*Server
	reg *prometheus.Registry
}

func startServer(t testing.TB, sink Sink) testServer {
	t.Helper()
	return startServerConfig(t, Config{Addr: "127.0.0.1:0", Secret: testSecret}, sink)
}

// startServerConfig starts a server with cfg and its own registry.
func startServerConfig(t testing.TB, cfg Config, sink Sink) testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registry = reg
	s, err := New(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("start on %s: %v", cfg.Addr, err)
	}
	t.Cleanup(func() { s.Close() })
	return testServer{s, reg}
}

func (s testServer) count(typ, outcome string) float64 {
	return testutil.ToFloat64(s.met.requests.WithLabelValues(typ, outcome))
}

// settled returns the count of typ and outcome once it has reached want,
// or after a few seconds: a request that is not answered gives the test no
// sign of when the server is done with it, and under -race on a loaded
// machine the wait for no answer can end first.
func (s testServer) settled(typ, outcome string, want float64) float64 {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := s.count(typ, outcome)
		if got >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// usage is one accounting update of the test session.
type usage struct {
	status           rfc2866.AcctStatusType
	sessionS, delay  uint32
	in, out          uint32
	inGiga, outGiga  uint32
	acctSessionID    string
	omitVendorExtras bool
}

func acctPacket(t testing.TB, secret []byte, u usage) *radius.Packet {
	t.Helper()
	p := radius.New(radius.CodeAccountingRequest, secret)
	id := u.acctSessionID
	if id == "" {
		id = "sess-0001"
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rfc2866.AcctStatusType_Set(p, u.status))
	must(rfc2866.AcctSessionID_SetString(p, id))
	must(rfc2865.UserName_SetString(p, "234150999999999@iot.example"))
	must(rfc2865.NASIPAddress_Set(p, net.IPv4(10, 1, 2, 3)))
	must(rfc2865.NASIdentifier_SetString(p, "pgw-1"))
	must(rfc2865.NASPort_Set(p, 7))
	must(rfc2865.CallingStationID_SetString(p, "+447700900123"))
	must(rfc2866.AcctSessionTime_Set(p, rfc2866.AcctSessionTime(u.sessionS)))
	must(rfc2866.AcctDelayTime_Set(p, rfc2866.AcctDelayTime(u.delay)))
	must(rfc2866.AcctInputOctets_Set(p, rfc2866.AcctInputOctets(u.in)))
	must(rfc2866.AcctOutputOctets_Set(p, rfc2866.AcctOutputOctets(u.out)))
	must(rfc2869.AcctInputGigawords_Set(p, rfc2869.AcctInputGigawords(u.inGiga)))
	must(rfc2869.AcctOutputGigawords_Set(p, rfc2869.AcctOutputGigawords(u.outGiga)))
	if !u.omitVendorExtras {
		vsa := []byte{}
		vsa = append(vsa, attrIMSI, 17)
		vsa = append(vsa, "234150999999999"...)
		vsa = append(vsa, attrIMSIMCCMNC, 7)
		vsa = append(vsa, "23415"...)
		vsa = append(vsa, attrChargingID, 6, 0, 0, 0x30, 0x39)
		vsa = append(vsa, attrRATType, 3, 6)
		a, err := radius.NewVendorSpecific(vendor3GPP, vsa)
		must(err)
		p.Add(rfc2865.VendorSpecific_Type, a)
	}
	return p
}

// exchange sends p once and waits up to wait for the answer; it returns
// nil when none came.
func exchange(t testing.TB, addr string, p *radius.Packet, wait time.Duration) *radius.Packet {
	t.Helper()
	return exchangeFrom(t, "", addr, p, wait)
}

// exchangeFrom is exchange from the source IP address from (any when
// empty): Linux accepts any address of 127.0.0.0/8 as local.
func exchangeFrom(t testing.TB, from, addr string, p *radius.Packet, wait time.Duration) *radius.Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	c := radius.Client{Retry: 0, MaxPacketErrors: 1}
	if from != "" {
		c.Dialer.LocalAddr = &net.UDPAddr{IP: net.ParseIP(from)}
	}
	resp, err := c.Exchange(ctx, p, addr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil
		}
		t.Fatalf("exchange: %v", err)
	}
	return resp
}
