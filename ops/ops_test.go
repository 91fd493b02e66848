package ops

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
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
