package ingest

import (
	"testing"
	"time"
)

// TestMappedTimeAcrossDST: a vendor layout without an offset, read in a
// time_zone with daylight saving time. A wall time that occurs twice (the
// hour repeated when clocks go back) is its first occurrence, and one that
// does not occur (the hour skipped when clocks go forward) is read with the
// offset in force before the change, in every zone alike (PostgreSQL's and
// Python's rule). Go's time.Date leaves the choice open and takes the later
// occurrence in Europe/London but the earlier in America/New_York, and in
// New York reads a skipped 02:30 as 01:30 EST. An explicit offset in the
// value is never second-guessed.
func TestMappedTimeAcrossDST(t *testing.T) {
	for _, tc := range []struct{ layout, zone, in, want string }{
		{"2006-01-02 15:04:05", "Europe/London", "2024-10-27 01:30:00", "2024-10-27T00:30:00Z"},             // repeated: BST
		{"2006-01-02 15:04:05", "Europe/London", "2024-10-27 00:59:59", "2024-10-26T23:59:59Z"},             // before it
		{"2006-01-02 15:04:05", "Europe/London", "2024-10-27 02:00:00", "2024-10-27T02:00:00Z"},             // after it
		{"2006-01-02 15:04:05", "America/New_York", "2024-11-03 01:30:00", "2024-11-03T05:30:00Z"},          // repeated: EDT
		{"2006-01-02 15:04:05", "Europe/London", "2024-03-31 01:30:00", "2024-03-31T01:30:00Z"},             // skipped: GMT
		{"2006-01-02 15:04:05", "America/New_York", "2024-03-10 02:30:00", "2024-03-10T07:30:00Z"},          // skipped: EST
		{"2006-01-02 15:04:05", "America/New_York", "2024-03-10 03:00:00", "2024-03-10T07:00:00Z"},          // after it
		{"2006-01-02 15:04:05", "America/New_York", "2024-12-31 23:59:59", "2025-01-01T04:59:59Z"},          // no change near
		{"2006-01-02 15:04:05 -0700", "Europe/London", "2024-10-27 01:30:00 +0000", "2024-10-27T01:30:00Z"}, // offset given
		{"2006-01-02 15:04:05 -0700", "Europe/London", "2024-10-27 01:30:00 +0100", "2024-10-27T00:30:00Z"},
		{"2006-01-02 15:04:05 MST", "Europe/London", "2024-10-27 01:30:00 GMT", "2024-10-27T01:30:00Z"},
	} {
		tf, err := buildTimeFormat(tc.layout, tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tf.parse(tc.in)
		if err != nil || got.Format(time.RFC3339) != tc.want {
			t.Errorf("%s in %s: %s, %v; want %s", tc.in, tc.zone, got.Format(time.RFC3339), err, tc.want)
		}
	}
}
