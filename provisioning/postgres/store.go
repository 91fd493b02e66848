package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/provisioning"
)

// Store implements provisioning.Store on PostgreSQL.
//
// Transactions that change a subscription or its requests lock rows in one
// order, so they wait for each other instead of deadlocking: the
// subscription, then the request, then SIMs. The locks are FOR NO KEY
// UPDATE, which do not block inserting rows that reference the locked one
// (a new request of the subscription, a message of the request).
type Store struct {
	pool *pgxpool.Pool
	comp completer // groups Complete's calls (complete_many.go)
}

var _ provisioning.Store = (*Store)(nil)

// DefaultMaxConns is the pool size simcore gives a Store unless the
// PostgreSQL URL sets pool_max_conns. Requests hold a connection only for
// their own round trips (never across a network call), so a few suffice,
// and more cost PostgreSQL CPU: backends that wait for one subscription's
// lock and each other's snapshots. With PostgreSQL on the worker's 2-core
// machine, 80 connections gave 523-595 provisioning requests/s, 20 gave
// 693-785 and 8 gave 770-902, with PostgreSQL's CPU per request falling
// from 2.3-2.7 to 1.3-1.5 ms (BENCHMARKS.md, session 7). A database server
// with many more cores may want more.
const DefaultMaxConns = 8

// New returns a store on pool; the schema must be migrated (Migrate).
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// inTx runs f in a transaction, committing if it returns nil.
func (s *Store) inTx(ctx context.Context, f func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, f)
}

// batch sends b in one round trip and lets read take its results in order.
// Outside a transaction PostgreSQL runs the statements of a batch as one
// implicit transaction: an error in any rolls back all, and row locks taken
// by one are held by those after it until the batch ends.
func (s *Store) batch(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	return sendBatch(ctx, s.pool, b, read)
}

// sendBatch is batch on a pool or a transaction.
func sendBatch(ctx context.Context, q interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	br := q.SendBatch(ctx, b)
	err := read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// PostgreSQL error codes this package tells apart.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
	codeDeadlockDetected    = "40P01"
)

// isDeadlock reports whether PostgreSQL broke a deadlock by aborting err's
// transaction: running it again is safe and will likely succeed.
func isDeadlock(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == codeDeadlockDetected
}

// constraintError returns the name of the constraint err violated with
// code, or "".
func constraintError(err error, code string) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == code {
		return pe.ConstraintName
	}
	return ""
}

func invalid(field, reason string) error {
	return &provisioning.InputError{Field: field, Reason: reason}
}

// validUUID reports whether s is a UUID in the form PostgreSQL prints it, so
// a malformed id is "not found" rather than a database error.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// utcDay is the UTC calendar day of t, as a date column holds it.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
