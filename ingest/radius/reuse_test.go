package radius

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
)

// A NAS restarts its Acct-Session-Id counter (../shared/DOMAIN.md: not
// unique across NAS restarts), so a later session can have an earlier
// session's unique id. Its counters start again from zero, below the
// earlier session's mark, and were measured against it: the whole later
// session counted nothing.

func TestSessionIDReusedAfterStop(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	s := startServer(t, sink)
	// The first session ended ten minutes ago (its packets say how late
	// they are).
	mustAnswer(t, s, usage{status: start, delay: 750})
	mustAnswer(t, s, usage{status: interim, sessionS: 60, in: 1000, out: 5000, delay: 690})
	mustAnswer(t, s, usage{status: stop, sessionS: 150, in: 3000, out: 10000, delay: 600})
	// The same id again, now: a new session.
	mustAnswer(t, s, usage{status: start})
	mustAnswer(t, s, usage{status: interim, sessionS: 30, in: 400, out: 800})
	// A last retransmission of the first session's Stop adds nothing, and
	// leaves the second session's mark where it is.
	mustAnswer(t, s, usage{status: stop, sessionS: 150, in: 3000, out: 10000, delay: 660})
	mustAnswer(t, s, usage{status: stop, sessionS: 60, in: 900, out: 1500})

	if dur, up, down := sink.totals(); dur != 210 || up != 3900 || down != 11500 {
		t.Errorf("totals = %d s, %d up, %d down; want 210, 3900, 11500 (150 s, 3000, 10000 of the first session and 60 s, 900, 1500 of the second)", dur, up, down)
	}
	recs := sink.records()
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4 (2 of each session): %+v", len(recs), recs)
	}
	// The second session's first record starts a session in the rollups.
	if got := recs[2].Sequence; got != 1 {
		t.Errorf("the second session's first record has sequence %d, want 1", got)
	}
	if got := s.count(typeStop, outcomeNoDelta); got != 1 {
		t.Errorf("stop no_delta = %v, want 1 (the first session's retransmitted Stop)", got)
	}
	if got := testutilCount(t, s, "stop"); got != 1 {
		t.Errorf("reused sessions counted (after a stop) = %v, want 1", got)
	}
}

// An update of the stopped session itself that arrives late is no new
// session: it began before the Stop, or (with no Acct-Delay-Time to say
// how late it is) within a minute of it.
func TestLateUpdatesOfAStoppedSession(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	s := startServer(t, sink)
	// Began 200 s ago, stopped 20 s ago.
	mustAnswer(t, s, usage{status: start, delay: 200})
	mustAnswer(t, s, usage{status: interim, sessionS: 120, in: 2000, out: 4000, delay: 80})
	mustAnswer(t, s, usage{status: stop, sessionS: 180, in: 3000, out: 6000, delay: 20})
	mustAnswer(t, s, usage{status: interim, sessionS: 60, in: 1000, out: 1500, delay: 140}) // late, timed
	mustAnswer(t, s, usage{status: start, delay: 203})                                      // retransmitted, timed
	mustAnswer(t, s, usage{status: interim, sessionS: 60, in: 1000, out: 1500})             // late, untimed
	mustAnswer(t, s, usage{status: start})                                                  // untimed, 20 s after the Stop
	mustAnswer(t, s, usage{status: interim, sessionS: 100, in: 2500, out: 5000, delay: 100})
	if dur, up, down := sink.totals(); dur != 180 || up != 3000 || down != 6000 {
		t.Errorf("totals = %d s, %d up, %d down; want 180, 3000, 6000", dur, up, down)
	}
	if got := testutilCount(t, s, "stop"); got != 0 {
		t.Errorf("reused sessions counted = %v, want 0", got)
	}
}

// Accounting-On (or -Off) says the NAS restarted: its sessions are over,
// and a session that begins afterwards with an old id is a new one. A
// session that began before and still sends updates (a NAS that sends
// Accounting-On without restarting) keeps its mark.
func TestAccountingOnEndsTheNASsSessions(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	s := startServer(t, sink)
	other := "sess-0002"
	mustAnswer(t, s, usage{status: start, delay: 300})
	mustAnswer(t, s, usage{status: interim, sessionS: 240, in: 1000, out: 2000, delay: 60})
	mustAnswer(t, s, usage{status: start, acctSessionID: other, delay: 300})
	mustAnswer(t, s, usage{status: interim, acctSessionID: other, sessionS: 240, in: 1000, out: 1000, delay: 60})
	mustAnswer(t, s, usage{status: rfc2866.AcctStatusType_Value_AccountingOn})
	// sess-0001 again: a session begun after the restart.
	mustAnswer(t, s, usage{status: start})
	mustAnswer(t, s, usage{status: interim, sessionS: 0, in: 500, out: 700})
	// sess-0002 began before it and still runs: measured from its mark.
	mustAnswer(t, s, usage{status: interim, acctSessionID: other, sessionS: 300, in: 3000, out: 3000})
	if dur, up, down := sink.totals(); dur != 540 || up != 4500 || down != 5700 {
		t.Errorf("totals = %d s, %d up, %d down; want 540, 4500, 5700 (sess-0001: 240 s, 1000, 2000, then 0 s, 500, 700; sess-0002: 300 s, 3000, 3000)", dur, up, down)
	}
	if got := testutilCount(t, s, "nas_restart"); got != 1 {
		t.Errorf("reused sessions counted (after a NAS restart) = %v, want 1", got)
	}
}

// An Accounting-On of another NAS ends none of this NAS's sessions.
func TestAccountingOnOfAnotherNAS(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	s := startServer(t, sink)
	mustAnswer(t, s, usage{status: start, delay: 300})
	mustAnswer(t, s, usage{status: interim, sessionS: 240, in: 1000, out: 2000, delay: 60})
	on := acctPacket(t, testSecret, usage{status: rfc2866.AcctStatusType_Value_AccountingOn})
	on.Attributes = on.Attributes[:0]
	if err := firstErrOf(
		rfc2866.AcctStatusType_Set(on, rfc2866.AcctStatusType_Value_AccountingOn),
		setNASIdentifier(on, "pgw-2"),
	); err != nil {
		t.Fatal(err)
	}
	if resp := exchange(t, s.Addr(), on, ok); resp == nil {
		t.Fatal("Accounting-On of pgw-2 not answered")
	}
	mustAnswer(t, s, usage{status: start})
	mustAnswer(t, s, usage{status: interim, sessionS: 30, in: 500, out: 700})
	if dur, up, down := sink.totals(); dur != 240 || up != 1000 || down != 2000 {
		t.Errorf("totals = %d s, %d up, %d down; want 240, 1000, 2000", dur, up, down)
	}
}

// After a restart the marks come from the log: a record that was its
// session's first (sequence 1) after that session's Stop is a new session
// of the same id, as it was when accepted, not more of the old one.
func TestRestoreMarkOfAReusedID(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	s := startServer(t, sink)
	uid := uniqueID("234150999999999@iot.example", "sess-0001", "10.1.2.3", "pgw-1", "", "7")
	at := time.Now().Add(-10 * time.Minute)
	for _, r := range []struct {
		id      string
		seq     uint32
		stopped bool
	}{
		{uid + "/t60i1000o5000", 1, false},
		{uid + "/t150i3000o10000", 2, true},
		{uid + "/t30i400o800", 1, false}, // the second session
	} {
		if !s.RestoreMark(r.id, r.seq, r.stopped, at) {
			t.Fatalf("RestoreMark(%q) refused", r.id)
		}
	}
	mustAnswer(t, s, usage{status: interim, sessionS: 30, in: 400, out: 800}) // retransmitted
	mustAnswer(t, s, usage{status: interim, sessionS: 90, in: 1400, out: 1800})
	recs := sink.records()
	if len(recs) != 1 {
		t.Fatalf("%d records after the restore, want 1 (the second session's next 60 s): %+v", len(recs), recs)
	}
	if r := recs[0]; r.DurationS != 60 || r.BytesUp != 1000 || r.BytesDown != 1000 || r.Sequence != 2 {
		t.Errorf("record %d s, %d up, %d down, sequence %d; want 60, 1000, 1000, 2", r.DurationS, r.BytesUp, r.BytesDown, r.Sequence)
	}
}

// testutilCount reads simcore_radius_sessions_reused_total{cause}.
func testutilCount(t *testing.T, s testServer, cause string) float64 {
	t.Helper()
	return testutil.ToFloat64(s.met.reused.WithLabelValues(cause))
}

func firstErrOf(errs ...error) error { return errors.Join(errs...) }

func setNASIdentifier(p *radius.Packet, id string) error {
	return rfc2865.NASIdentifier_SetString(p, id)
}
