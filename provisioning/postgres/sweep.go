package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/provisioning"
)

// Stale lists up to limit open requests that are due (not_before in the
// past) and were last updated before before, oldest first (without their
// messages: the sweeper needs only ids and due times). Requests scheduled
// for later are left out: every line with an end date has one, last
// updated when it was scheduled, and a thousand of them filled every sweep
// while a lost task behind them was never reached. One whose task was lost
// is found once it falls due.
//
// Requests in progress are listed too: an attempt ends within its task's
// timeout, so one not updated since before lost its worker, and its task
// with it when Redis restarted empty (a host reboot). Left so, it would
// hold back every later request of its line for ever.
func (s *Store) Stale(ctx context.Context, before time.Time, limit int) ([]provisioning.Request, error) {
	if limit <= 0 || limit > maxList {
		limit = maxList
	}
	// Two scans, so that the pending one keeps its partial index.
	rows, err := s.pool.Query(ctx, `SELECT * FROM (
		(SELECT `+requestColumns+` FROM provisioning_requests
			WHERE state = 'pending' AND updated_at < $1 AND not_before <= now() ORDER BY updated_at LIMIT $2)
		UNION ALL
		(SELECT `+requestColumns+` FROM provisioning_requests
			WHERE state = 'in_progress' AND updated_at < $1 ORDER BY updated_at LIMIT $2)
		) stale ORDER BY updated_at LIMIT $2`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("stale requests: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (provisioning.Request, error) { return scanRequest(r) })
	if err != nil {
		return nil, fmt.Errorf("stale requests: %w", err)
	}
	return out, nil
}
