package ingest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/ingest"
)

// BenchmarkSpoolScanManyAhead: a feed that copies files with their times
// from a host whose clock is ahead leaves every file "ahead" until it has
// kept its size and time for Settle. A scan used to check each such name
// against the whole listing: with 40,000 files a scan took 6.0 s
// (2026-12-07, AMD EPYC, load from other tests), stalling the spool; with a
// set of names built once per scan, 0.2 s.
func BenchmarkSpoolScanManyAhead(b *testing.B) {
	dir := b.TempDir()
	const n = 40_000
	future := time.Now().Add(time.Hour)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("usage-%06d.csv", i))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Chtimes(p, future, future); err != nil {
			b.Fatal(err)
		}
	}
	// No file settles in these scans, so no pipeline is needed.
	sp := &ingest.Spool{Dir: dir, Log: slog.New(slog.DiscardHandler), Settle: time.Hour}
	if _, err := sp.ScanOnce(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if handled, err := sp.ScanOnce(context.Background()); err != nil || handled != 0 {
			b.Fatalf("ScanOnce = %d, %v; want 0 files handled", handled, err)
		}
	}
}

// TestPushStalledBodyIsCutOff: a feed that starts a push and then stops
// sending (a hung client, a path that died without a RST) held its
// connection, goroutines and parser buffers for ever, since the push
// server has no overall read timeout (a 64 MiB body may take long on a slow
// link). A body that makes no progress for PushHandler.IdleTimeout must
// end the push.
func TestPushStalledBodyIsCutOff(t *testing.T) {
	env := newTestEnv(t, ingest.Config{}, nil)
	srv := httptest.NewServer(&ingest.PushHandler{Pipeline: env.p, Log: env.log, Token: pushToken, IdleTimeout: time.Second})
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "record_id,node_id,type,iccid,imsi,msisdn,start_time,duration_s,bytes_up,bytes_down,mcc_mnc,rat\n"
	fmt.Fprintf(conn, "POST /v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: text/csv\r\nContent-Length: 1000000\r\n\r\n%s", pushToken, body)
	start := time.Now()
	// Far longer than the idle timeout, so only a push never cut off fails.
	_ = conn.SetReadDeadline(start.Add(30 * time.Second))
	reply, err := io.ReadAll(conn) // an answer and a close, or a close
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("a push whose body stalled was still open after %s", time.Since(start).Round(time.Second))
	}
	if len(reply) > 0 && strings.HasPrefix(string(reply), "HTTP/1.1 200") {
		t.Fatalf("a push whose body stalled was answered 200:\n%s", reply)
	}
	t.Logf("stalled push ended after %s: %.80q", time.Since(start).Round(time.Millisecond), reply)
}
