package ingest_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"github.com/simcore/simcore/ingest"
	iradius "github.com/simcore/simcore/ingest/radius"
	"github.com/simcore/simcore/metering"
)

var _ iradius.Sink = (*ingest.RecordSink)(nil)

// failingWriter fails every write while fail is set.
type failingWriter struct {
	ingest.BatchWriter
	fail atomic.Bool
}

func (f *failingWriter) WriteBatch(ctx context.Context, b *metering.Batch) (metering.WriteResult, error) {
	if f.fail.Load() {
		return metering.WriteResult{}, errors.New("clickhouse unavailable")
	}
	return f.BatchWriter.WriteBatch(ctx, b)
}

var radiusSecret = []byte("radius-test-secret")

// acctRequest is an Accounting-Request of a session of IMSI imsi.
func acctRequest(t *testing.T, status rfc2866.AcctStatusType, session, imsi string, secs, in, out uint32) *radius.Packet {
	t.Helper()
	p := radius.New(radius.CodeAccountingRequest, radiusSecret)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rfc2866.AcctStatusType_Set(p, status))
	must(rfc2866.AcctSessionID_SetString(p, session))
	must(rfc2865.UserName_SetString(p, imsi+"@iot.example"))
	must(rfc2865.NASIPAddress_Set(p, net.IPv4(10, 1, 2, 3)))
	must(rfc2865.NASIdentifier_SetString(p, "pgw-radius-1"))
	must(rfc2866.AcctSessionTime_Set(p, rfc2866.AcctSessionTime(secs)))
	must(rfc2866.AcctInputOctets_Set(p, rfc2866.AcctInputOctets(in)))
	must(rfc2866.AcctOutputOctets_Set(p, rfc2866.AcctOutputOctets(out)))
	vsa := append([]byte{1, byte(2 + len(imsi))}, imsi...) // 3GPP-IMSI
	a, err := radius.NewVendorSpecific(10415, vsa)
	must(err)
	p.Add(rfc2865.VendorSpecific_Type, a)
	return p
}

// send sends p once and waits up to wait for the answer; nil when none came.
func send(t *testing.T, addr string, p *radius.Packet, wait time.Duration) *radius.Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	c := radius.Client{Retry: 0, MaxPacketErrors: 1}
	resp, err := c.Exchange(ctx, p, addr)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return resp
}

func TestRADIUSIntoPipeline(t *testing.T) {
	t.Parallel()
	const imsi = "001010000000077"
	iccid := "894400000000000077" + string(metering.LuhnCheckDigit("894400000000000077"))
	res := &fakeResolver{sims: map[string]string{imsi: iccid}}
	var fw *failingWriter
	e := newTestEnv(t, ingest.Config{
		Resolver: ingest.NewCachedResolver(res, 0, 0, nil),
		RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	}, func(w ingest.BatchWriter) ingest.BatchWriter {
		fw = &failingWriter{BatchWriter: w}
		return fw
	})
	sink := &ingest.RecordSink{Pipeline: e.p, Kind: "radius", Name: "radius", Format: ingest.FormatRADIUS}
	srv, err := iradius.New(iradius.Config{Addr: "127.0.0.1:0", Secret: radiusSecret, Log: e.log}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	addr := srv.Addr()

	interim := acctRequest(t, rfc2866.AcctStatusType_Value_InterimUpdate, "s-1", imsi, 60, 1000, 2000)
	for _, step := range []struct {
		name string
		p    *radius.Packet
	}{
		{"start", acctRequest(t, rfc2866.AcctStatusType_Value_Start, "s-1", imsi, 0, 0, 0)},
		{"interim", interim},
		{"interim retransmitted", interim},
		{"stop", acctRequest(t, rfc2866.AcctStatusType_Value_Stop, "s-1", imsi, 120, 3000, 7000)},
	} {
		if send(t, addr, step.p, 10*time.Second) == nil {
			t.Fatalf("%s: no Accounting-Response", step.name)
		}
	}
	checkUsage := func(what string, dur, up, down uint64) {
		t.Helper()
		tot := e.totals(t)
		if tot.RecordsDurationS != dur || tot.BytesUp != up || tot.BytesDown != down || tot.Records != tot.Distinct {
			t.Errorf("%s: usage_records %+v, want duration %d, up %d, down %d", what, tot, dur, up, down)
		}
	}
	checkUsage("session s-1", 120, 3000, 7000)
	var stored uint64
	if err := e.ch.QueryRow(t.Context(), "SELECT count() FROM usage_records WHERE iccid = ?", iccid).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 2 {
		t.Errorf("%d records stored for the ICCID, want 2 (interim, stop)", stored)
	}

	// With the store down the NAS is not answered; after recovery it is.
	fw.fail.Store(true)
	p := acctRequest(t, rfc2866.AcctStatusType_Value_InterimUpdate, "s-2", imsi, 30, 500, 900)
	if send(t, addr, p, time.Second) != nil {
		t.Fatal("answered while the writer fails")
	}
	fw.fail.Store(false)
	if send(t, addr, p, 10*time.Second) == nil {
		t.Fatal("retransmission not answered after recovery")
	}
	checkUsage("sessions s-1 and s-2", 150, 3500, 7900)

	// An unknown IMSI is quarantined, and the NAS answered.
	if send(t, addr, acctRequest(t, rfc2866.AcctStatusType_Value_Stop, "s-3", "001010000000088", 10, 1, 1), 10*time.Second) == nil {
		t.Fatal("unknown IMSI: no Accounting-Response")
	}
	for _, r := range e.rejects(t, "radius") {
		if r.Reason != ingest.ReasonUnknownIMSI {
			t.Errorf("radius reject %+v, want unknown_imsi", r)
		}
	}
	if n := len(e.rejects(t, "radius")); n != 1 {
		t.Errorf("%d radius rejects, want 1", n)
	}
	checkUsage("after unknown IMSI", 150, 3500, 7900)
}
