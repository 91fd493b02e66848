package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// raterLockID is the advisory lock a rater holds while it rates ("smcrate").
const raterLockID int64 = 0x736d_6372_6174_6500

// ratingWorkLockID is the advisory lock held while subscriptions are rated
// ("smcrwork"): by the rater and by simcore rerate, which does not lead.
const ratingWorkLockID int64 = 0x736d_6372_776f_726b

// LockRating takes the rating work lock on a connection of the pool, which
// it keeps until unlock; see rating.Store.
func (s *Store) LockRating(ctx context.Context) (func(), error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("rating lock: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", ratingWorkLockID); err != nil {
		// It may have been granted as the call failed: drop the session.
		_ = conn.Conn().Close(context.Background())
		conn.Release()
		return nil, fmt.Errorf("rating lock: %w", err)
	}
	return func() {
		var ok bool
		err := conn.QueryRow(context.Background(), "SELECT pg_advisory_unlock($1)", ratingWorkLockID).Scan(&ok)
		if err != nil || !ok {
			_ = conn.Conn().Close(context.Background())
		}
		conn.Release()
	}, nil
}

// WhileLeader runs f while this process holds the rater lock, so that of
// several raters (simcore run and simcore rater, or two for availability)
// one rates and the others wait as standbys. The lock lives in a session
// of its own; if that session dies, f's context is cancelled and the lock
// is sought again. WhileLeader returns when ctx ends.
func WhileLeader(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, f func(context.Context) error) error {
	for ctx.Err() == nil {
		err := lead(ctx, pool, log, f)
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("rater lock lost; seeking it again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func lead(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, f func(context.Context) error) error {
	// A connection of its own, held as long as the lock: the pool's are
	// for queries, and closing this session is what frees the lock.
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for waited := false; ; waited = true {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", raterLockID).Scan(&got); err != nil {
			return fmt.Errorf("take rater lock: %w", err)
		}
		if got {
			break
		}
		if !waited {
			log.Info("another rater is rating; standing by")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	log.Info("rating as leader")
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lost := make(chan error, 1)
	pinging := make(chan struct{})
	// The pinger must be gone before the connection is closed (the
	// deferred close above runs after this returns).
	defer func() { cancel(); <-pinging }()
	go func() {
		defer close(pinging)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				if err := conn.Ping(lctx); err != nil && lctx.Err() == nil {
					lost <- err
					cancel()
					return
				}
			}
		}
	}()
	err = f(lctx)
	select {
	case lerr := <-lost:
		return errors.Join(lerr, err)
	default:
	}
	if err == nil && ctx.Err() == nil {
		err = errors.New("rater stopped")
	}
	return err
}
