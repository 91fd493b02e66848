package pglisten_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/pglisten"
	"github.com/simcore/simcore/internal/testenv"
)

// TestRun: notifications reach Notify after Up; a listening connection
// killed by the server is reported Down, then listened on anew (Up again);
// ending ctx reports Down and returns nil.
func TestRun(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t, "pglisten", "1", func(context.Context, string) error { return nil })
	ctx := testenv.Context(t, time.Minute)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	events := make(chan string, 100)
	pids := make(chan uint32, 10)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		done <- pglisten.Run(rctx, pglisten.Config{
			Pool:     pool,
			Channels: []string{"pglisten test"}, // quoted: names are identifiers
			Up: func(_ context.Context, conn *pgx.Conn) error {
				pids <- conn.PgConn().PID()
				events <- "up"
				return nil
			},
			Notify: func(_ context.Context, _ *pgx.Conn, n *pgconn.Notification) error {
				events <- "notify " + n.Payload
				return nil
			},
			Poll:  func(context.Context, *pgx.Conn) error { return nil },
			Down:  func() { events <- "down" },
			Every: 100 * time.Millisecond,
			Log:   slog.New(slog.DiscardHandler),
		})
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-events:
			if got != want {
				t.Fatalf("event %q, want %q", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("no event, want %q", want)
		}
	}
	notify := func(payload string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `SELECT pg_notify('pglisten test', $1)`, payload); err != nil {
			t.Fatal(err)
		}
	}

	expect("up")
	notify("a")
	expect("notify a")
	if _, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", <-pids); err != nil {
		t.Fatal(err)
	}
	expect("down")
	expect("up")
	notify("b")
	expect("notify b")
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	expect("down")
}
