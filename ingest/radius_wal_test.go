package ingest_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

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
		if _, err := ingest.ReplayWAL(dir, time.Now().Add(-time.Hour), func(id string, seq uint32) { srv.RestoreMark(id, seq) }); err != nil {
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

// stop stops the receiver, then the log: what was accepted is in complete
// segments afterwards.
func (ws walServer) stop() {
	ws.srv.Close()
	ws.wal.Close()
}

// walLines counts the records in the complete segments of dir.
func walLines(t *testing.T, dir string) int {
	t.Helper()
	n, err := ingest.ReplayWAL(dir, time.Time{}, func(string, uint32) {})
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
