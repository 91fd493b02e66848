package ingest_test

import (
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2866"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/metering"
)

// delayed is p with Acct-Delay-Time d: the NAS says how late it is.
func delayed(t *testing.T, p *radius.Packet, d uint32) *radius.Packet {
	t.Helper()
	if err := rfc2866.AcctDelayTime_Set(p, rfc2866.AcctDelayTime(d)); err != nil {
		t.Fatal(err)
	}
	return p
}

// A session that reused an id and whose first record came late (simcore
// was unreachable, the NAS retried with a growing Acct-Delay-Time) is
// measured right when accepted. After a restart its mark is rebuilt from
// the log, and its later updates must still count: the restored mark must
// not take the session for one that began when its first record was
// logged, and then every on-time update for one of an earlier session.
func TestRADIUSReusedIDDelayedFirstRecordAfterRestart(t *testing.T) {
	t.Parallel()
	const imsi = "001010000000079"
	iccid := "894400000000000079" + string(metering.LuhnCheckDigit("894400000000000079"))
	res := &fakeResolver{sims: map[string]string{imsi: iccid}}
	e := newTestEnv(t, ingest.Config{Resolver: ingest.NewCachedResolver(res, 0, 0, nil)}, nil)
	dir := t.TempDir()
	spool := &ingest.Spool{Dir: dir, Pipeline: e.p, Log: e.log}
	req := func(st rfc2866.AcctStatusType, secs, in, out, delay uint32) *radius.Packet {
		return delayed(t, acctRequest(t, st, "s-reuse", imsi, secs, in, out), delay)
	}
	const (
		start   = rfc2866.AcctStatusType_Value_Start
		interim = rfc2866.AcctStatusType_Value_InterimUpdate
		stop    = rfc2866.AcctStatusType_Value_Stop
	)
	ws := startWALServer(t, dir, false)
	for i, p := range []*radius.Packet{
		// The first session: began 11 min ago, stopped 10 min ago.
		req(start, 0, 0, 0, 660),
		req(interim, 30, 100, 200, 630),
		req(stop, 60, 300, 500, 600),
		// The same id 3 min ago: its first interim comes 150 s late.
		req(start, 0, 0, 0, 180),
		req(interim, 30, 400, 800, 150),
	} {
		if send(t, ws.srv.Addr(), p, 10*time.Second) == nil {
			t.Fatalf("packet %d: no Accounting-Response", i)
		}
	}
	ws.stop()

	// simcore restarts; the marks come from the log.
	ws = startWALServer(t, dir, true)
	for i, p := range []*radius.Packet{
		req(interim, 180, 1400, 1800, 0),
		req(stop, 200, 2000, 2500, 0),
	} {
		if send(t, ws.srv.Addr(), p, 10*time.Second) == nil {
			t.Fatalf("packet %d after the restart: no Accounting-Response", i)
		}
	}
	ws.stop()
	if _, err := spool.ScanOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	tot := e.totals(t)
	// 60 s, 300, 500 of the first session; 200 s, 2000, 2500 of the
	// second. (Before the reuse change: 200 s, 2000, 2500 in all.)
	if tot.RecordsDurationS != 260 || tot.BytesUp != 2300 || tot.BytesDown != 3000 {
		t.Errorf("store holds %+v; want duration 260, up 2300, down 3000", tot)
	}
}
