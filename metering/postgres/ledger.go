package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/metering"
)

// writeLockID is the advisory lock every usage writer takes ("smcwrite").
const writeLockID int64 = 0x736d_6377_7269_7465

// Ledger implements metering.Ledger on PostgreSQL: an advisory lock is the
// lease (released by the server if the holder dies), and usage_batches is the
// ledger.
type Ledger struct {
	pool *pgxpool.Pool
}

var _ metering.Ledger = (*Ledger)(nil)

// NewLedger returns a ledger on pool; the schema must be migrated.
func NewLedger(pool *pgxpool.Pool) *Ledger { return &Ledger{pool: pool} }

// Acquire takes the write lease on a dedicated connection.
// Errors wrap metering.ErrLedger.
func (l *Ledger) Acquire(ctx context.Context) (metering.Lease, error) {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: acquire connection: %w", metering.ErrLedger, err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", writeLockID); err != nil {
		// The lock may have been granted just as the call failed: close the
		// session so the server drops it, rather than pool a connection
		// that might hold it.
		_ = conn.Conn().Close(context.Background())
		conn.Release()
		return nil, fmt.Errorf("%w: take write lock: %w", metering.ErrLedger, err)
	}
	return &lease{conn: conn}, nil
}

type lease struct {
	conn *pgxpool.Conn
}

func (l *lease) MaxSeq(ctx context.Context) (uint64, error) {
	// A pruned ledger may be empty: the pruned mark is still "seen".
	var seq int64
	err := l.conn.QueryRow(ctx, `SELECT greatest(
		(SELECT coalesce(max(seq), 0) FROM usage_batches),
		(SELECT through FROM usage_ledger_pruned))`).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("%w: max seq: %w", metering.ErrLedger, err)
	}
	return uint64(seq), nil
}

func (l *lease) Since(ctx context.Context, seq uint64) ([]metering.LedgerBatch, error) {
	// The pruned mark is read with the batches, in one statement: under
	// the lease nothing prunes in between anyway.
	var through int64
	if err := l.conn.QueryRow(ctx, "SELECT through FROM usage_ledger_pruned").Scan(&through); err != nil {
		return nil, fmt.Errorf("%w: pruned mark: %w", metering.ErrLedger, err)
	}
	if int64(seq) < through {
		return nil, fmt.Errorf("%w: batches after %d are pruned through %d", metering.ErrLedgerPruned, seq, through)
	}
	rows, err := l.conn.Query(ctx, "SELECT seq, writer, months, state FROM usage_batches WHERE seq > $1 ORDER BY seq", int64(seq))
	if err != nil {
		return nil, fmt.Errorf("%w: batches since %d: %w", metering.ErrLedger, seq, err)
	}
	out, err := pgx.CollectRows(rows, scanBatch)
	if err != nil {
		return nil, fmt.Errorf("%w: batches since %d: %w", metering.ErrLedger, seq, err)
	}
	return out, nil
}

func (l *lease) Writing(ctx context.Context) ([]metering.LedgerBatch, error) {
	rows, err := l.conn.Query(ctx, "SELECT seq, writer, months, state FROM usage_batches WHERE state = 'writing' ORDER BY seq")
	if err != nil {
		return nil, fmt.Errorf("%w: batches still writing: %w", metering.ErrLedger, err)
	}
	out, err := pgx.CollectRows(rows, scanBatch)
	if err != nil {
		return nil, fmt.Errorf("%w: batches still writing: %w", metering.ErrLedger, err)
	}
	return out, nil
}

// scanBatch reads a row of seq, writer, months, state.
func scanBatch(r pgx.CollectableRow) (metering.LedgerBatch, error) {
	var (
		b      metering.LedgerBatch
		s      int64
		months []int32
	)
	if err := r.Scan(&s, &b.Writer, &months, &b.State); err != nil {
		return b, err
	}
	b.Seq = uint64(s)
	for _, m := range months {
		b.Months = append(b.Months, uint32(m))
	}
	return b, nil
}

func (l *lease) Begin(ctx context.Context, writer string, months []uint32, iccids []string, rows int) (uint64, error) {
	ms := make([]int32, len(months))
	for i, m := range months {
		ms[i] = int32(m)
	}
	if iccids == nil {
		iccids = []string{}
	}
	var seq int64
	err := l.conn.QueryRow(ctx,
		"INSERT INTO usage_batches (writer, months, iccids, rows, state) VALUES ($1, $2, $3, $4, 'writing') RETURNING seq",
		writer, ms, iccids, rows).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("%w: begin batch: %w", metering.ErrLedger, err)
	}
	return uint64(seq), nil
}

// BatchChannel is the PostgreSQL notification channel on which the ledger
// announces a finished batch (its seq as the payload), so rating can follow
// usage without polling.
const BatchChannel = "simcore_usage_batches"

func (l *lease) end(ctx context.Context, seq uint64, state string) error {
	// The notification is delivered when the update commits, with it.
	tag, err := l.conn.Exec(ctx, `WITH u AS (
		UPDATE usage_batches SET state = $2, ended_at = now() WHERE seq = $1 RETURNING seq)
		SELECT pg_notify('`+BatchChannel+`', seq::text) FROM u`, int64(seq), state)
	if err != nil {
		return fmt.Errorf("%w: mark batch %d %s: %w", metering.ErrLedger, seq, state, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("%w: batch %d not in the ledger", metering.ErrLedger, seq)
	}
	return nil
}

// Held asks the lease's own session: the advisory lock lives as long as the
// session, so a session that answers still holds it.
func (l *lease) Held(ctx context.Context) error {
	if _, err := l.conn.Exec(ctx, "SELECT 1"); err != nil {
		return fmt.Errorf("%w: the lease's session: %w", metering.ErrLedger, err)
	}
	return nil
}

func (l *lease) Commit(ctx context.Context, seq uint64) error { return l.end(ctx, seq, "committed") }
func (l *lease) Abort(ctx context.Context, seq uint64) error  { return l.end(ctx, seq, "aborted") }

// Prune deletes batches in chunks of at most limit seq numbers, each chunk
// in its own transaction with the pruned mark, so a large backlog neither
// holds one long transaction nor loses the mark.
func (l *lease) Prune(ctx context.Context, cutoff time.Time, limit int) (metering.Pruned, error) {
	var (
		p            metering.Pruned
		through, old int64
		heldBy       *string
		heldSeq      *int64
	)
	// old: the newest batch begun before cutoff; the reader with the
	// lowest seq holds back everything after it.
	err := l.conn.QueryRow(ctx, `SELECT
		(SELECT through FROM usage_ledger_pruned),
		(SELECT coalesce(max(seq), 0) FROM usage_batches WHERE begun_at < $1),
		r.reader, r.seq
		FROM (SELECT 1) one LEFT JOIN (SELECT reader, seq FROM usage_ledger_readers ORDER BY seq, reader LIMIT 1) r ON true`,
		cutoff).Scan(&through, &old, &heldBy, &heldSeq)
	if err != nil {
		return p, fmt.Errorf("%w: prune: %w", metering.ErrLedger, err)
	}
	target := old
	if heldSeq != nil && *heldSeq < old {
		target = *heldSeq
		p.HeldBy, p.HeldAt = *heldBy, uint64(*heldSeq)
	}
	p.Through = uint64(max(through, 0))
	end := min(target, through+int64(limit))
	if end <= through {
		return p, nil
	}
	// The mark moves first and the delete depends on it: one statement,
	// so both happen or neither.
	var deleted, marked int
	err = l.conn.QueryRow(ctx, `WITH m AS (UPDATE usage_ledger_pruned SET through = $2, pruned_at = now() WHERE through = $1 RETURNING 1),
		d AS (DELETE FROM usage_batches WHERE seq > $1 AND seq <= $2 AND EXISTS (SELECT 1 FROM m) RETURNING 1)
		SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM m)`, through, end).Scan(&deleted, &marked)
	if err != nil {
		return p, fmt.Errorf("%w: prune through %d: %w", metering.ErrLedger, end, err)
	}
	if marked != 1 {
		return p, fmt.Errorf("%w: prune through %d: the pruned mark moved meanwhile", metering.ErrLedger, end)
	}
	p.Deleted, p.Through, p.More = deleted, uint64(end), end < target
	return p, nil
}

func (l *lease) Release(ctx context.Context) error {
	if l.conn == nil {
		return nil
	}
	conn := l.conn
	l.conn = nil
	var unlocked bool
	err := conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", writeLockID).Scan(&unlocked)
	if err == nil && !unlocked {
		err = errors.New("lock was not held")
	}
	if err != nil {
		// The connection's state is unknown: close it so the server drops
		// the lock with the session.
		_ = conn.Conn().Close(context.Background())
	}
	conn.Release()
	if err != nil {
		return fmt.Errorf("%w: release write lock: %w", metering.ErrLedger, err)
	}
	return nil
}
