package ops

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServerEndpoints(t *testing.T) {
	t.Parallel()
	s := NewServer(slog.New(slog.DiscardHandler), NewRegistry())
	ready := errors.New("clickhouse: connection refused")
	s.AddCheck("postgres", func(context.Context) error { return nil })
	s.AddCheck("clickhouse", func(context.Context) error { return ready })
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, time.Second) }()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz %d", code)
	}
	code, body := get("/readyz")
	var checks map[string]string
	if err := json.Unmarshal([]byte(body), &checks); err != nil || code != http.StatusServiceUnavailable ||
		checks["postgres"] != "ok" || !strings.Contains(checks["clickhouse"], "connection refused") {
		t.Fatalf("/readyz with a failing check: %d %s", code, body)
	}
	ready = nil
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with every check passing: %d %s", code, body)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_cpu_seconds_total") {
		t.Fatalf("/metrics lacks the Go and process collectors: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}

// TestReadyzAnswersWhileACheckHangs: a store that hangs (ClickHouse under
// SIGSTOP: the TCP handshake succeeds, no answer follows) can keep a
// driver's ping past the context it was given (clickhouse-go waits out
// its own dial and read timeouts, up to minutes). /readyz must still
// answer at its own timeout: 503, the hung check named, the others
// reported. It used to wait for every check.
func TestReadyzAnswersWhileACheckHangs(t *testing.T) {
	t.Parallel()
	s := NewServer(slog.New(slog.DiscardHandler), NewRegistry())
	s.timeout = 100 * time.Millisecond
	hung := make(chan struct{})
	t.Cleanup(func() { close(hung) })
	s.AddCheck("postgres", func(context.Context) error { return nil })
	s.AddCheck("clickhouse", func(context.Context) error { <-hung; return nil }) // ignores its context
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = s.Serve(ctx, time.Second) }()

	// Generous: the check stays hung for the whole test, so without the
	// fix this would only end here.
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://" + s.Addr() + "/readyz")
	if err != nil {
		t.Fatalf("/readyz with a hung check: %v; want an answer", err)
	}
	defer resp.Body.Close()
	var checks map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&checks); err != nil || resp.StatusCode != http.StatusServiceUnavailable ||
		checks["postgres"] != "ok" || !strings.Contains(checks["clickhouse"], "timed out") {
		t.Fatalf("/readyz with a hung check: %d %v (%v); want 503 with clickhouse timed out and postgres ok", resp.StatusCode, checks, err)
	}
}

// TestReadyzStartsOneCheckAtATime: a check that outlives its probe (a
// driver waiting out its own timeouts on a hung store) is not started
// again by the next probes while it runs: each would hold another
// goroutine and driver connection until the store answers, one per probe
// (every few seconds from a prober) for minutes. The next probes report
// it as still running; once it ends, the one after runs it again.
func TestReadyzStartsOneCheckAtATime(t *testing.T) {
	t.Parallel()
	s := NewServer(slog.New(slog.DiscardHandler), NewRegistry())
	s.timeout = 50 * time.Millisecond
	var (
		mu      sync.Mutex
		started int
	)
	hung := make(chan struct{})
	s.AddCheck("clickhouse", func(context.Context) error { // ignores its context
		mu.Lock()
		started++
		mu.Unlock()
		<-hung
		return nil
	})
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = s.Serve(ctx, time.Second) }()

	probe := func() (int, map[string]string) {
		t.Helper()
		resp, err := http.Get("http://" + s.Addr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var checks map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&checks); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, checks
	}
	tests := []struct {
		name string
		want string
	}{
		{"first probe", "timed out"},
		{"second probe", "still running"},
		{"third probe", "still running"},
	}
	for _, tt := range tests {
		code, checks := probe()
		if code != http.StatusServiceUnavailable || !strings.Contains(checks["clickhouse"], tt.want) {
			t.Errorf("%s: %d %v; want 503 with clickhouse %q", tt.name, code, checks, tt.want)
		}
	}
	mu.Lock()
	n := started
	mu.Unlock()
	if n != 1 {
		t.Errorf("3 probes while the check hung started it %d times, want 1", n)
	}

	close(hung) // the store answers: the check ends, and runs again
	for i := 0; ; i++ {
		if code, _ := probe(); code == http.StatusOK {
			break
		}
		if i == 1000 {
			t.Fatal("/readyz never ready after the hung check ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// That answer may have come from the hung run itself, ending: its
	// run is forgotten before its probes hear of it, so the next probe
	// starts another.
	if code, checks := probe(); code != http.StatusOK {
		t.Fatalf("a probe after the check ended: %d %v, want 200", code, checks)
	}
	mu.Lock()
	defer mu.Unlock()
	if started < 2 {
		t.Errorf("the check ran %d times after it ended; want it run again", started)
	}
}

// TestReadyzProbesAtOnceShareACheck: probes that arrive together (a
// prober and an operator's curl) share a slow but healthy check's run and
// both answer ready.
func TestReadyzProbesAtOnceShareACheck(t *testing.T) {
	t.Parallel()
	s := NewServer(slog.New(slog.DiscardHandler), NewRegistry())
	s.timeout = 10 * time.Second
	release := make(chan struct{})
	s.AddCheck("postgres", func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = s.Serve(ctx, time.Second) }()
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := http.Get("http://" + s.Addr() + "/readyz")
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	time.Sleep(50 * time.Millisecond) // both probes wait on the check
	close(release)
	for range 2 {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("a probe beside another answered %d, want 200", code)
		}
	}
}
