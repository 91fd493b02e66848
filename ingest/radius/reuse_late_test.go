package radius

import (
	"testing"
	"time"

	"layeh.com/radius/rfc2866"
)

// A NAS that restarts sends Accounting-On, not the Stops of the sessions
// it lost; one that kept them (or an update of them that could not be
// delivered before the restart) sends them late, with Acct-Delay-Time. A
// session that reuses an id after the restart starts its mark again, but
// the old session, never stopped, may still have usage beyond its mark to
// report: its late Stop must count that usage, as it did before the reuse
// change, and leave the new session's mark alone.
func TestLateStopOfASessionEndedByAccountingOn(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	s := startServer(t, sink)
	// The old session: began 15 min ago, last interim 10 min ago.
	mustAnswer(t, s, usage{status: start, delay: 900})
	mustAnswer(t, s, usage{status: interim, sessionS: 300, in: 1000, out: 2000, delay: 600})
	// The NAS restarted 5 min ago; the same id began again 200 s ago.
	mustAnswer(t, s, usage{status: rfc2866.AcctStatusType_Value_AccountingOn, delay: 300})
	mustAnswer(t, s, usage{status: start, delay: 200})
	mustAnswer(t, s, usage{status: interim, sessionS: 100, in: 500, out: 700, delay: 100})
	// The old session's Stop, made just before the restart, comes now.
	mustAnswer(t, s, usage{status: stop, sessionS: 500, in: 5000, out: 9000, delay: 400})
	// The new session goes on.
	mustAnswer(t, s, usage{status: interim, sessionS: 200, in: 800, out: 900})
	// Old session 500 s, 5000, 9000; new one 200 s, 800, 900. (Before the
	// reuse change: 500 s, 5000, 9000 in all; now the late Stop's 200 s,
	// 4000, 7000 are dropped.)
	if dur, up, down := sink.totals(); dur != 700 || up != 5800 || down != 9900 {
		t.Errorf("totals = %d s, %d up, %d down; want 700, 5800, 9900", dur, up, down)
	}
}

// Restored from the log in the order accepted, the old session's late
// Stop (after the new session's first record) raises the old session's
// counters, not the new session's mark.
func TestRestoreLateUpdateOfTheSessionBefore(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	s := startServer(t, sink)
	uid := uniqueID("234150999999999@iot.example", "sess-0001", "10.1.2.3", "pgw-1", "", "7")
	now := time.Now()
	for _, r := range []struct {
		id      string
		seq     uint32
		stopped bool
		at      time.Time // the update's time
	}{
		{uid + "/t300i1000o2000", 1, false, now.Add(-10 * time.Minute)},
		{uid + "/t100i500o700", 1, false, now.Add(-100 * time.Second)},  // the new session
		{uid + "/t500i5000o9000", 2, true, now.Add(-400 * time.Second)}, // the old one's late Stop
	} {
		if !s.RestoreMark(r.id, r.seq, r.stopped, r.at) {
			t.Fatalf("RestoreMark(%q) refused", r.id)
		}
	}
	mustAnswer(t, s, usage{status: stop, sessionS: 500, in: 5000, out: 9000, delay: 403}) // retransmitted
	mustAnswer(t, s, usage{status: interim, sessionS: 200, in: 800, out: 900})
	recs := sink.records()
	if len(recs) != 1 {
		t.Fatalf("%d records after the restore, want 1 (the new session's next 100 s): %+v", len(recs), recs)
	}
	if r := recs[0]; r.DurationS != 100 || r.BytesUp != 300 || r.BytesDown != 200 || r.Sequence != 2 {
		t.Errorf("record %d s, %d up, %d down, sequence %d; want 100, 300, 200, 2", r.DurationS, r.BytesUp, r.BytesDown, r.Sequence)
	}
}
