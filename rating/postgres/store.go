package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/rating"
)

// BalanceChannel is the notification channel on which a credit announces
// its ICCID, so the rater re-evaluates barring at once.
const BalanceChannel = "simcore_rating_balance"

// Store implements rating.Store and rating's credits on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	cat     *rating.Catalogue
	version int
}

var _ rating.Store = (*Store)(nil)

// New returns a store on pool; rating's and metering's migrations must
// have run.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// ImportCatalogue stores c as the newest catalogue version and returns it.
func (s *Store) ImportCatalogue(ctx context.Context, c *rating.Catalogue, source string) (int, error) {
	doc, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	var v int
	err = s.pool.QueryRow(ctx, "INSERT INTO rating_catalogues (document, source) VALUES ($1, $2) RETURNING version", doc, source).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store catalogue: %w", err)
	}
	return v, nil
}

// Catalogue returns the newest catalogue; it is parsed once per version.
func (s *Store) Catalogue(ctx context.Context) (*rating.Catalogue, int, error) {
	var v int
	err := s.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM rating_catalogues").Scan(&v)
	if err != nil {
		return nil, 0, fmt.Errorf("catalogue version: %w", err)
	}
	if v == 0 {
		return nil, 0, rating.ErrNoCatalogue
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cat != nil && s.version == v {
		return s.cat, v, nil
	}
	var doc []byte
	if err := s.pool.QueryRow(ctx, "SELECT document FROM rating_catalogues WHERE version = $1", v).Scan(&doc); err != nil {
		return nil, 0, fmt.Errorf("load catalogue %d: %w", v, err)
	}
	c, err := rating.LoadCatalogue(bytes.NewReader(doc))
	if err != nil {
		return nil, 0, fmt.Errorf("catalogue %d: %w", v, err)
	}
	s.cat, s.version = c, v
	return c, v, nil
}

// Cursor is the last usage batch rated.
func (s *Store) Cursor(ctx context.Context) (uint64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, "SELECT seq FROM rating_cursor").Scan(&seq); err != nil {
		return 0, fmt.Errorf("rating cursor: %w", err)
	}
	return uint64(seq), nil
}

// SetCursor moves the cursor forward to seq (never back), and with it
// rating's hold on metering's ledger (usage_ledger_readers).
func (s *Store) SetCursor(ctx context.Context, seq uint64) error {
	_, err := s.pool.Exec(ctx, `WITH c AS (UPDATE rating_cursor SET seq = greatest(seq, $1) RETURNING seq)
		UPDATE usage_ledger_readers SET seq = (SELECT seq FROM c), updated_at = now()
		WHERE reader = 'rating' AND seq < (SELECT seq FROM c)`, int64(seq))
	if err != nil {
		return fmt.Errorf("set rating cursor: %w", err)
	}
	return nil
}

// Batches reads metering's ledger after seq; see rating.Store.
func (s *Store) Batches(ctx context.Context, after uint64, settle time.Duration, limit int) ([]rating.Batch, error) {
	var through int64
	if err := s.pool.QueryRow(ctx, "SELECT through FROM usage_ledger_pruned").Scan(&through); err != nil {
		return nil, fmt.Errorf("usage ledger pruned mark: %w", err)
	}
	if int64(after) < through {
		return nil, &rating.LedgerGapError{Cursor: after, Through: uint64(through)}
	}
	rows, err := s.pool.Query(ctx, `
		SELECT seq, months, iccids, state, state = 'writing' AND begun_at > now() - make_interval(secs => $2)
		FROM usage_batches WHERE seq > $1 ORDER BY seq LIMIT $3`, int64(after), settle.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("usage batches after %d: %w", after, err)
	}
	defer rows.Close()
	var out []rating.Batch
	for rows.Next() {
		var (
			seq     int64
			months  []int32
			iccids  []string
			state   string
			writing bool
		)
		if err := rows.Scan(&seq, &months, &iccids, &state, &writing); err != nil {
			return nil, err
		}
		if writing {
			break // rated when it is finished, or settled
		}
		out = append(out, ledgerBatch(seq, months, iccids, state == "writing"))
	}
	return out, rows.Err()
}

// ledgerBatch is a usage_batches row as rating reads it.
func ledgerBatch(seq int64, months []int32, iccids []string, writing bool) rating.Batch {
	b := rating.Batch{Seq: uint64(seq), ICCIDs: iccids, Writing: writing}
	for _, m := range months {
		b.Months = append(b.Months, uint32(m))
	}
	return b
}

// Writing implements rating.Store.
func (s *Store) Writing(ctx context.Context, through uint64, settle, within time.Duration) ([]rating.Batch, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT seq, months, iccids FROM usage_batches
		WHERE seq <= $1 AND begun_at > now() - make_interval(secs => $2)
		AND (state = 'writing' OR ended_at > begun_at + make_interval(secs => $3))
		ORDER BY seq`, int64(through), within.Seconds(), settle.Seconds())
	if err != nil {
		return nil, fmt.Errorf("usage batches being written: %w", err)
	}
	defer rows.Close()
	var out []rating.Batch
	for rows.Next() {
		var (
			seq    int64
			months []int32
			iccids []string
		)
		if err := rows.Scan(&seq, &months, &iccids); err != nil {
			return nil, err
		}
		out = append(out, ledgerBatch(seq, months, iccids, true))
	}
	return out, rows.Err()
}

// BatchStates implements rating.Store.
func (s *Store) BatchStates(ctx context.Context, seqs []uint64) (map[uint64]string, error) {
	ids := make([]int64, len(seqs))
	for i, q := range seqs {
		ids[i] = int64(q)
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, state FROM usage_batches WHERE seq = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("usage batch states: %w", err)
	}
	defer rows.Close()
	out := make(map[uint64]string, len(seqs))
	for rows.Next() {
		var (
			seq   int64
			state string
		)
		if err := rows.Scan(&seq, &state); err != nil {
			return nil, err
		}
		out[uint64(seq)] = state
	}
	return out, rows.Err()
}

func uniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// inTx runs f in a transaction.
func (s *Store) inTx(ctx context.Context, f func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, f)
}
