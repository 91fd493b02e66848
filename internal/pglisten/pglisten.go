// Package pglisten follows PostgreSQL notifications on a connection of its
// own, for in-process caches that must forget what another transaction
// changed. It reconnects after errors, polls while no notification comes
// (so a connection that died silently is noticed), and tells its user when
// it is not listening, so a cache can stop answering from memory. It
// imports no simcore package.
package pglisten

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultPoll is how often Run polls without a notification.
const DefaultPoll = 5 * time.Second

// Config configures Run.
type Config struct {
	Pool     *pgxpool.Pool
	Channels []string
	// Up is called once the connection listens on every channel, before
	// any notification is handed on: whatever changed while nobody
	// listened must be found here (or forgotten wholesale).
	Up func(ctx context.Context, conn *pgx.Conn) error
	// Notify is called for each notification.
	Notify func(ctx context.Context, conn *pgx.Conn, n *pgconn.Notification) error
	// Poll is called after Poll without a notification; nil runs
	// "SELECT 1", so a dead connection is noticed within about Poll.
	Poll func(ctx context.Context, conn *pgx.Conn) error
	// Down is called when listening stops (an error, or ctx ending) after
	// Up succeeded: notifications may be lost from then on.
	Down func()
	// Every is the poll interval; default DefaultPoll.
	Every time.Duration
	Log   *slog.Logger
}

// Run listens until ctx ends, reconnecting with a growing back-off (1 s to
// 30 s) after errors. It returns nil when ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Pool == nil || len(cfg.Channels) == 0 || cfg.Up == nil || cfg.Notify == nil || cfg.Down == nil || cfg.Log == nil {
		return errors.New("pglisten: incomplete config")
	}
	if cfg.Every <= 0 {
		cfg.Every = DefaultPoll
	}
	if cfg.Poll == nil {
		cfg.Poll = func(ctx context.Context, conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, "SELECT 1")
			return err
		}
	}
	backoff := time.Second
	for {
		up, err := listen(ctx, cfg)
		if up {
			cfg.Down()
			backoff = time.Second
		}
		if ctx.Err() != nil {
			return nil
		}
		cfg.Log.Warn("postgres notifications", "channels", cfg.Channels, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// listen runs one connection; up reports whether Up succeeded on it.
func listen(ctx context.Context, cfg Config) (up bool, err error) {
	// A connection of its own, not one of the pool's: a listener holds it
	// for ever, and the pool is sized for queries.
	conn, err := pgx.ConnectConfig(ctx, cfg.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	for _, ch := range cfg.Channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return false, fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	if err := withTimeout(ctx, cfg.Every, func(ctx context.Context) error { return cfg.Up(ctx, conn) }); err != nil {
		return false, fmt.Errorf("catch up: %w", err)
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, cfg.Every)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case err != nil && errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			err = withTimeout(ctx, cfg.Every, func(ctx context.Context) error { return cfg.Poll(ctx, conn) })
			if err != nil {
				return true, fmt.Errorf("poll: %w", err)
			}
		case err != nil:
			return true, fmt.Errorf("wait: %w", err)
		default:
			if err := withTimeout(ctx, cfg.Every, func(ctx context.Context) error { return cfg.Notify(ctx, conn, n) }); err != nil {
				return true, fmt.Errorf("notification on %s: %w", n.Channel, err)
			}
		}
	}
}

func withTimeout(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return f(ctx)
}
