package ingest_test

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2866"

	"github.com/simcore/simcore/ingest"
	iradius "github.com/simcore/simcore/ingest/radius"
	"github.com/simcore/simcore/metering"
)

var _ iradius.Sink = (*ingest.WAL)(nil)

// walServer is a RADIUS receiver whose sink is a write-ahead log in dir;
// with replay, its session marks are rebuilt from the log first, as
// cmd/simcore does at start.
type walServer struct {
	srv *iradius.Server
	wal *ingest.WAL
}

func startWALServer(t *testing.T, dir string, replay bool) walServer {
	t.Helper()
	wal, err := ingest.OpenWAL(ingest.WALConfig{Dir: dir, RotateEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := iradius.New(iradius.Config{Addr: "127.0.0.1:0", Secret: radiusSecret}, wal)
	if err != nil {
		t.Fatal(err)
	}
	if replay {
		if _, err := ingest.ReplayWAL(dir, time.Now().Add(-time.Hour), replayInto(srv)); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ws := walServer{srv: srv, wal: wal}
	t.Cleanup(ws.stop)
	return ws
}

// replayInto restores srv's session marks from each logged record, as
// cmd/simcore does at start.
func replayInto(srv *iradius.Server) func(ingest.WALRecord) {
	return func(r ingest.WALRecord) { srv.RestoreMark(r.RecordID, r.Sequence, r.Closed, r.When()) }
}

// stop stops the receiver, then the log: what was accepted is in complete
// segments afterwards.
func (ws walServer) stop() {
	ws.srv.Close()
	ws.wal.Close()
}

// walLines counts the records in the complete segments of dir.
func walLines(t *testing.T, dir string) int {
	t.Helper()
	n, err := ingest.ReplayWAL(dir, time.Time{}, func(ingest.WALRecord) {})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRADIUSThroughWAL: the NAS is answered once the record is in the
// log, before anything is stored; the spool then stores the log's
// segments exactly as the direct path would (usage once, the unknown IMSI
// quarantined). After a restart a retransmission adds no record when the
// marks are rebuilt from the log, and is a duplicate by identity when
// they are not.
func TestRADIUSThroughWAL(t *testing.T) {
	t.Parallel()
	const imsi = "001010000000077"
	iccid := "894400000000000077" + string(metering.LuhnCheckDigit("894400000000000077"))
	res := &fakeResolver{sims: map[string]string{imsi: iccid}}
	e := newTestEnv(t, ingest.Config{Resolver: ingest.NewCachedResolver(res, 0, 0, nil)}, nil)
	dir := t.TempDir()
	spool := &ingest.Spool{Dir: dir, Pipeline: e.p, Log: e.log}

	ws := startWALServer(t, dir, false)
	interim := acctRequest(t, rfc2866.AcctStatusType_Value_InterimUpdate, "s-1", imsi, 60, 1000, 2000)
	stop := acctRequest(t, rfc2866.AcctStatusType_Value_Stop, "s-1", imsi, 120, 3000, 7000)
	for _, step := range []struct {
		name string
		p    *radius.Packet
	}{
		{"start", acctRequest(t, rfc2866.AcctStatusType_Value_Start, "s-1", imsi, 0, 0, 0)},
		{"interim", interim},
		{"interim retransmitted", interim},
		{"stop", stop},
		{"unknown IMSI", acctRequest(t, rfc2866.AcctStatusType_Value_Stop, "s-3", "001010000000088", 10, 1, 1)},
	} {
		if send(t, ws.srv.Addr(), step.p, 10*time.Second) == nil {
			t.Fatalf("%s: no Accounting-Response", step.name)
		}
	}
	if n := e.storedCount(t); n != 0 {
		t.Fatalf("%d records stored before the spool ran: the answer should not wait for the store", n)
	}
	ws.stop()
	if n := walLines(t, dir); n != 3 {
		t.Fatalf("log holds %d records, want 3 (interim, stop, unknown IMSI)", n)
	}

	checkUsage := func(what string, records, dur, up, down uint64) {
		t.Helper()
		if _, err := spool.ScanOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		tot := e.totals(t)
		if tot.Records != records || tot.Distinct != records || tot.RecordsDurationS != dur || tot.BytesUp != up ||
			tot.BytesDown != down || tot.DailyRecords != records || tot.DailyBytesUp != up {
			t.Errorf("%s: store holds %+v, want %d records, duration %d, up %d, down %d", what, tot, records, dur, up, down)
		}
		segs, _ := filepath.Glob(filepath.Join(dir, "radius-wal-*"))
		if len(segs) != 0 {
			t.Errorf("%s: segments left in the spool: %v", what, segs)
		}
	}
	checkUsage("first run", 2, 120, 3000, 7000)
	rejects := e.rejects(t, "radius")
	if len(rejects) != 1 || rejects[1].Reason != ingest.ReasonUnknownIMSI || rejects[1].Format != ingest.FormatRADIUS {
		t.Errorf("radius rejects %+v, want one unknown_imsi of format radius", rejects)
	}

	// Restarted without marks: the retransmitted Stop becomes a record of
	// the session's whole usage, with the same identity as the stored one.
	ws = startWALServer(t, dir, false)
	if send(t, ws.srv.Addr(), stop, 10*time.Second) == nil {
		t.Fatal("retransmitted stop after restart: no Accounting-Response")
	}
	ws.stop()
	if n := walLines(t, dir); n != 4 {
		t.Fatalf("log holds %d records, want 4 (the retransmission measured from zero)", n)
	}
	checkUsage("retransmission without marks", 2, 120, 3000, 7000)

	// Restarted with the marks rebuilt from the log: the retransmission
	// adds nothing, and a new session's update is stored.
	ws = startWALServer(t, dir, true)
	for _, p := range []*radius.Packet{stop, interim, acctRequest(t, rfc2866.AcctStatusType_Value_InterimUpdate, "s-2", imsi, 30, 500, 900)} {
		if send(t, ws.srv.Addr(), p, 10*time.Second) == nil {
			t.Fatal("no Accounting-Response after restart")
		}
	}
	ws.stop()
	if n := walLines(t, dir); n != 5 {
		t.Fatalf("log holds %d records, want 5 (only s-2's interim is new)", n)
	}
	checkUsage("after the marks were rebuilt", 3, 150, 3500, 7900)

	// A segment stored but not moved to done/ (a crash in between) is
	// stored again as duplicates.
	done, _ := filepath.Glob(filepath.Join(dir, "done", "radius-wal-*.ndjson"))
	if len(done) == 0 {
		t.Fatal("no segment in done/")
	}
	b, err := os.ReadFile(done[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(done[0])), b, 0o644); err != nil {
		t.Fatal(err)
	}
	checkUsage("segment replayed", 3, 150, 3500, 7900)
}

// TestRADIUSRestoredSessionsEvictedAsTheyWere: sessions whose marks were
// rebuilt from the log at start are counted, when evicted, by what they
// were. Restored marks used to be neither stopped nor dated, so evicting
// sessions that had long stopped counted them as active, raised
// SimcoreRADIUSSessionsEvicted and told the operator to raise
// --radius-sessions for nothing.
func TestRADIUSRestoredSessionsEvictedAsTheyWere(t *testing.T) {
	t.Parallel()
	const imsi = "001010000000077"
	dir := t.TempDir()
	ws := startWALServer(t, dir, false)
	for _, s := range []string{"a", "b"} {
		for _, p := range []*radius.Packet{
			acctRequest(t, rfc2866.AcctStatusType_Value_Start, s, imsi, 0, 0, 0),
			acctRequest(t, rfc2866.AcctStatusType_Value_InterimUpdate, s, imsi, 60, 1000, 2000),
			acctRequest(t, rfc2866.AcctStatusType_Value_Stop, s, imsi, 120, 3000, 7000),
		} {
			if send(t, ws.srv.Addr(), p, 10*time.Second) == nil {
				t.Fatalf("session %s: no Accounting-Response", s)
			}
		}
	}
	ws.stop()

	wal, err := ingest.OpenWAL(ingest.WALConfig{Dir: dir, RotateEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv, err := iradius.New(iradius.Config{Addr: "127.0.0.1:0", Secret: radiusSecret, MaxSessions: 2, Registry: reg}, wal)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.ReplayWAL(dir, time.Now().Add(-time.Hour), replayInto(srv)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(); wal.Close() })
	for _, s := range []string{"c", "d"} {
		if send(t, srv.Addr(), acctRequest(t, rfc2866.AcctStatusType_Value_InterimUpdate, s, imsi, 60, 1000, 2000), 10*time.Second) == nil {
			t.Fatalf("session %s: no Accounting-Response", s)
		}
	}
	evicted := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "simcore_radius_sessions_evicted_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "state" && m.GetCounter().GetValue() > 0 {
					evicted[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	if want := map[string]float64{"stopped": 2}; !maps.Equal(evicted, want) {
		t.Fatalf("evicted by state %v, want %v: the restored sessions had stopped", evicted, want)
	}
}
