package postgres

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/pglisten"
)

// UsageCache is what FollowBatches keeps correct (metering/usagecache).
type UsageCache interface {
	// Forget drops what is cached for iccids.
	Forget(iccids []string)
	// ForgetAll drops everything.
	ForgetAll()
	// SetLive turns answering from memory on or off.
	SetLive(live bool)
}

// unfinishedFor is how long a batch still marked 'writing' is treated as
// possibly landing: its rows may appear in ClickHouse until its insert
// ends or fails, and a writer whose ledger mark failed leaves it so.
const unfinishedFor = "10 minutes"

// FollowBatches keeps c in step with the usage ledger: after every batch
// notification (BatchChannel) and every pglisten.DefaultPoll without one,
// it reads the batches it has not seen and forgets their ICCIDs. A batch
// still marked 'writing' is read again each time (alone, not with the ones
// after it) until it is marked or is older than 10 minutes, so rows that
// land without a commit notification are caught by the next poll. c is live only while FollowBatches listens.
// It runs until ctx ends, on a connection of pool of its own, and returns
// nil then.
func FollowBatches(ctx context.Context, pool *pgxpool.Pool, c UsageCache, log *slog.Logger) error {
	var (
		floor int64   // the last batch read
		open  []int64 // batches up to floor still marked 'writing' and recent: read again
	)
	catchUp := func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT seq, iccids, state = 'writing' AND begun_at > now() - interval '`+unfinishedFor+`'
			FROM usage_batches WHERE seq > $1 OR seq = ANY($2) ORDER BY seq`, floor, open)
		if err != nil {
			return fmt.Errorf("batches since %d: %w", floor, err)
		}
		defer rows.Close()
		var still []int64
		for rows.Next() {
			var (
				seq        int64
				iccids     []string
				unfinished bool
			)
			if err := rows.Scan(&seq, &iccids, &unfinished); err != nil {
				return fmt.Errorf("batches since %d: %w", floor, err)
			}
			c.Forget(iccids)
			if unfinished {
				still = append(still, seq)
			}
			floor = max(floor, seq)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("batches since %d: %w", floor, err)
		}
		open = still
		return nil
	}
	return pglisten.Run(ctx, pglisten.Config{
		Pool:     pool,
		Channels: []string{BatchChannel},
		Up: func(ctx context.Context, conn *pgx.Conn) error {
			// Listening now: start after the last batch, with the ones
			// that may still land, and forget what was cached while nobody
			// listened.
			err := conn.QueryRow(ctx, `SELECT coalesce(max(seq), 0),
				coalesce(array_agg(seq) FILTER (WHERE state = 'writing' AND begun_at > now() - interval '`+unfinishedFor+`'), '{}')
				FROM usage_batches`).Scan(&floor, &open)
			if err != nil {
				return fmt.Errorf("ledger floor: %w", err)
			}
			c.ForgetAll()
			if err := catchUp(ctx, conn); err != nil {
				return err
			}
			c.SetLive(true)
			return nil
		},
		Notify: func(ctx context.Context, conn *pgx.Conn, _ *pgconn.Notification) error { return catchUp(ctx, conn) },
		Poll:   catchUp,
		Down:   func() { c.SetLive(false) },
		Log:    log,
	})
}
