package radius

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A full or failing disk under the write-ahead log fails every request
// (the NAS is rightly not answered), and each one logged a warning: at
// 20,000 requests a second, 20,000 log lines a second, burying the one
// that says what is wrong. The failure is logged when it starts, then at
// most once a minute with how many were left out, and once when the sink
// accepts again.
func TestSinkFailureLoggedOncePerMinute(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	failing := true
	sink := &recordingSink{fail: func(int) bool { return failing }}
	s, err := New(Config{Secret: testSecret, Log: slog.New(slog.NewTextHandler(&logs, nil))}, sink)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1_700_000_000, 0)
	s.sinkLog.now = func() time.Time { return clock }
	packet := func(i int) []byte {
		t.Helper()
		b, err := acctPacket(t, testSecret, usage{status: interim, sessionS: uint32(60 + i), in: uint32(1000 + i)}).Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i := range 100 {
		if resp := s.handlePacket(t.Context(), packet(i), testSecret, clock); resp != nil {
			t.Fatal("answered although the sink failed")
		}
	}
	if n := strings.Count(logs.String(), "level="); n != 1 {
		t.Errorf("%d log lines for 100 failed requests within a minute, want 1:\n%s", n, logs.String())
	}
	clock = clock.Add(time.Minute)
	s.handlePacket(t.Context(), packet(100), testSecret, clock)
	if !strings.Contains(logs.String(), "left_out=99") {
		t.Errorf("a minute later, the failures left out are not counted:\n%s", logs.String())
	}
	failing = false
	for i := 101; i < 103; i++ {
		if resp := s.handlePacket(t.Context(), packet(i), testSecret, clock); resp == nil {
			t.Fatal("not answered after the sink recovered")
		}
	}
	if n := strings.Count(logs.String(), "radius sink accepting again"); n != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "level="); n != 3 {
		t.Errorf("%d log lines in all, want 3:\n%s", n, logs.String())
	}
}
