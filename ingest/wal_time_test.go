package ingest

import (
	"testing"
	"time"
)

// parseUTCSeconds agrees with time.Parse on what it accepts, and refuses
// what time.Parse refuses (or what it leaves to time.Parse: other forms).
func TestParseUTCSeconds(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"2026-12-07T21:51:25Z", "2024-02-29T00:00:00Z", "1999-12-31T23:59:59Z",
		"2026-04-31T00:00:00Z", "2025-02-29T10:00:00Z", "2026-12-07T24:00:00Z", "2026-13-01T00:00:00Z",
		"2026-12-07T21:51:2aZ", "2026-12-07 21:51:25Z", "2026-12-07T21:51:25.5Z", "2026-12-07T21:51:25+01:00",
	} {
		got, ok := parseUTCSeconds([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		switch {
		case ok && (err != nil || !got.Equal(want)):
			t.Errorf("%s: got %v, time.Parse %v (%v)", s, got, want, err)
		case !ok && err == nil && len(s) == 20:
			t.Errorf("%s: refused, time.Parse reads %v", s, want)
		}
	}
}
