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
