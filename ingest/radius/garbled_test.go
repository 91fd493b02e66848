package radius

import (
	"strconv"
	"testing"
	"time"
)

// TestGarbledCountersNeverRaiseTheMark: an update whose Gigawords are
// garbage (a delta beyond metering.MaxRecordOctets) goes to the Sink, which
// quarantines it, but leaves the session's mark where it was, live and
// when the write-ahead log is replayed after a restart: the next update
// then carries the session's real usage since the last good one.
func TestGarbledCountersNeverRaiseTheMark(t *testing.T) {
	t.Parallel()
	uid := uniqueID("234150999999999@iot.example", "sess-0001", "10.1.2.3", "pgw-1", "", "7")
	garbage := uint64(1<<32-1)<<32 | 2000
	tests := []struct {
		name    string
		restore bool // the first two updates come back from the log, not the NAS
	}{
		{name: "live"},
		{name: "replayed after a restart", restore: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := &recordingSink{}
			s := startServer(t, sink)
			if tc.restore {
				s.RestoreMark(uid+"/t60i1000o2000", 1, false, time.Time{})
				s.RestoreMark(uid+"/t120i"+strconv.FormatUint(garbage, 10)+"o4000", 2, false, time.Time{})
			} else {
				mustAnswer(t, s, usage{status: interim, sessionS: 60, in: 1000, out: 2000})
				mustAnswer(t, s, usage{status: interim, sessionS: 120, in: 2000, inGiga: 1<<32 - 1, out: 4000})
				if recs := sink.records(); len(recs) != 2 || recs[1].BytesUp != garbage-1000 {
					t.Fatalf("records %+v, want the garbled delta handed to the Sink", recs)
				}
			}
			mustAnswer(t, s, usage{status: stop, sessionS: 180, in: 3000, out: 7000})
			recs := sink.records()
			last := recs[len(recs)-1]
			if last.DurationS != 120 || last.BytesUp != 2000 || last.BytesDown != 5000 {
				t.Errorf("stop's record: %d s, %d up, %d down; want 120 s, 2000 up, 5000 down (since the last good update)",
					last.DurationS, last.BytesUp, last.BytesDown)
			}
		})
	}
}
