package radius

import (
	"testing"
	"time"

	"layeh.com/radius/rfc2866"

	"github.com/simcore/simcore/metering"
)

// TestRecordIdentityIsDeterministic: the identity (NodeID, RecordID) of
// the record an update produces depends only on the packet's session
// attributes and cumulative counters, not on when it arrives, its
// Acct-Delay-Time and Identifier (a NAS resending it), or what the
// receiver knew before (its marks; after a restart they are gone). That
// is what lets a record logged but never answered, then retransmitted by
// the NAS to a restarted receiver, count once in the store. RestoreMark
// from the logged record makes the retransmission produce nothing at all.
func TestRecordIdentityIsDeterministic(t *testing.T) {
	t.Parallel()
	update := usage{status: rfc2866.AcctStatusType_Value_InterimUpdate, sessionS: 300, in: 40_000, out: 90_000}
	first := func(t *testing.T, prior *usage, u usage) (metering.Record, bool) {
		t.Helper()
		sink := &recordingSink{}
		s := startServer(t, sink)
		if prior != nil {
			if exchange(t, s.Addr(), acctPacket(t, testSecret, *prior), 5*time.Second) == nil {
				t.Fatal("prior update not answered")
			}
		}
		if exchange(t, s.Addr(), acctPacket(t, testSecret, u), 5*time.Second) == nil {
			t.Fatal("update not answered")
		}
		recs := sink.records()
		if len(recs) == 0 {
			return metering.Record{}, false
		}
		return recs[len(recs)-1], true
	}
	fresh, ok := first(t, nil, update)
	if !ok {
		t.Fatal("a fresh receiver stored nothing")
	}
	earlier := usage{status: rfc2866.AcctStatusType_Value_InterimUpdate, sessionS: 120, in: 10_000, out: 20_000}
	afterEarlier, _ := first(t, &earlier, update)
	resent := update
	resent.delay = 45
	late, _ := first(t, nil, resent)
	for _, tc := range []struct {
		name string
		rec  metering.Record
	}{{"after an earlier update (other marks)", afterEarlier}, {"resent with Acct-Delay-Time 45", late}} {
		if tc.rec.Key() != fresh.Key() || tc.rec.NodeID != fresh.NodeID || tc.rec.RecordID != fresh.RecordID {
			t.Errorf("%s: identity (%q, %q), want (%q, %q)", tc.name, tc.rec.NodeID, tc.rec.RecordID, fresh.NodeID, fresh.RecordID)
		}
	}
	if afterEarlier.BytesUp != 30_000 || fresh.BytesUp != 40_000 {
		t.Errorf("deltas up %d and %d, want 30000 after the earlier update, 40000 fresh", afterEarlier.BytesUp, fresh.BytesUp)
	}
	other := update
	other.acctSessionID = "sess-0002"
	if rec, _ := first(t, nil, other); rec.Key() == fresh.Key() {
		t.Errorf("another Acct-Session-Id has the same identity %q", rec.RecordID)
	}
	more := update
	more.out++
	if rec, _ := first(t, nil, more); rec.Key() == fresh.Key() {
		t.Errorf("other counters have the same identity %q", rec.RecordID)
	}

	// A receiver whose marks are restored from the logged record answers
	// the retransmission without a record.
	sink := &recordingSink{}
	s := startServer(t, sink)
	if !s.RestoreMark(fresh.RecordID, fresh.Sequence, false, time.Time{}) {
		t.Fatalf("RestoreMark(%q) = false", fresh.RecordID)
	}
	if s.RestoreMark("cdr-17", 1, false, time.Time{}) {
		t.Error("RestoreMark accepted a record id this package did not make")
	}
	if exchange(t, s.Addr(), acctPacket(t, testSecret, resent), 5*time.Second) == nil {
		t.Fatal("retransmission after restore not answered")
	}
	if recs := sink.records(); len(recs) != 0 {
		t.Errorf("retransmission after restore produced %+v, want nothing", recs)
	}
	next := usage{status: rfc2866.AcctStatusType_Value_Stop, sessionS: 360, in: 41_000, out: 90_500}
	if exchange(t, s.Addr(), acctPacket(t, testSecret, next), 5*time.Second) == nil {
		t.Fatal("stop after restore not answered")
	}
	if recs := sink.records(); len(recs) != 1 || recs[0].DurationS != 60 || recs[0].BytesUp != 1000 ||
		recs[0].BytesDown != 500 || recs[0].Sequence != fresh.Sequence+1 {
		t.Errorf("stop after restore produced %+v, want one record of the delta (60 s, 1000 up, 500 down)", recs)
	}
}
