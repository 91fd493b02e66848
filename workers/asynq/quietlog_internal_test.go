package asynq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestQuietLogOncePerMinute: with Redis down Asynq logs the same failure
// from every server every second; each distinct message is logged once a
// minute at most, the next line counting those left out, and another
// message is not held back by it.
func TestQuietLogOncePerMinute(t *testing.T) {
	var buf bytes.Buffer
	q := newQuietLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	now := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	q.now = func() time.Time { return now }
	lines := func() []map[string]any {
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			out = append(out, m)
		}
		buf.Reset()
		return out
	}

	const down = "Dequeue error: dial tcp 127.0.0.1:6379: connect: connection refused"
	for range 100 {
		q.Error(down)
		now = now.Add(500 * time.Millisecond)
	}
	q.Warn("Failed to write server state data: ", "connection refused")
	got := lines()
	if len(got) != 2 || got[0]["msg"] != down || got[0]["level"] != "ERROR" || got[1]["level"] != "WARN" {
		t.Fatalf("100 repeats over 50 s and one other message gave %d lines, want 2: %v", len(got), got)
	}
	if _, ok := got[0]["left_out"]; ok {
		t.Errorf("first line %v counts lines left out", got[0])
	}

	now = now.Add(10 * time.Second) // a minute after the first
	q.Error(down)
	got = lines()
	if len(got) != 1 || got[0]["left_out"] != float64(99) {
		t.Fatalf("a minute on: %v, want one line with left_out 99", got)
	}

	// Messages that differ are each logged: the filter remembers at most
	// quietMax of them and forgets those a minute old.
	for i := range 3 * quietMax {
		q.Error(fmt.Sprintf("task %d failed", i))
		now = now.Add(time.Second)
	}
	if n := len(lines()); n != 3*quietMax {
		t.Errorf("%d distinct messages gave %d lines", 3*quietMax, n)
	}
	if len(q.seen) > quietMax {
		t.Errorf("%d messages remembered, want at most %d", len(q.seen), quietMax)
	}
}
