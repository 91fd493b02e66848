package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/simcore/simcore/internal/testenv"
)

func TestRaisedLimit(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	tests := []struct {
		name        string
		live, limit int64
		want        int64
		raise       bool
	}{
		{"well under", 120 * mib, 384 * mib, 384 * mib, false},
		{"at 60%", 230 * mib, 384 * mib, 384 * mib, false},
		{"past 60%", 240 * mib, 384 * mib, 448 * mib, true}, // 408 MiB, rounded up to 64 MiB
		{"key set of a big window", 1200 * mib, 384 * mib, 2048 * mib, true},
		{"already raised enough", 1200 * mib, 2048 * mib, 2048 * mib, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, raise := raisedLimit(tt.live, tt.limit)
			if got != tt.want || raise != tt.raise {
				t.Fatalf("raisedLimit(%d MiB, %d MiB) = %d MiB, %v; want %d MiB, %v", tt.live/mib, tt.limit/mib, got/mib, raise, tt.want/mib, tt.raise)
			}
		})
	}
}

// TestMemoryLimitRaisedOnce: a live heap past 60% of the limit raises it
// once, with a warning naming the setting; the next check, with the same
// heap, leaves it.
func TestMemoryLimitRaisedOnce(t *testing.T) {
	t.Parallel()
	var logs testenv.Buffer
	limit, live := int64(384<<20), int64(300<<20)
	m := &memoryLimit{
		log:  slog.New(slog.NewTextHandler(&logs, nil)),
		live: func() int64 { return live },
		set: func(l int64) int64 {
			prev := limit
			if l >= 0 {
				limit = l
			}
			return prev
		},
	}
	m.check()
	if limit != 512<<20 {
		t.Fatalf("limit %d MiB after a 300 MiB live heap, want 512", limit>>20)
	}
	m.check()
	if n := strings.Count(logs.String(), "raised the soft memory limit"); n != 1 || !strings.Contains(logs.String(), "--memory-limit-mib") {
		t.Fatalf("%d warnings:\n%s", n, logs.String())
	}
}
