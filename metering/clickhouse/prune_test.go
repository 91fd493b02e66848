package clickhouse

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/simcore/simcore/internal/testenv"
	mpg "github.com/simcore/simcore/metering/postgres"
)

// TestWriterIdlePastAPrune: writer A stores a batch and then idles while
// writer B stores another and, its retention passed, prunes both from the
// ledger. A can no longer learn from the ledger what B stored, so it must
// reload its keys from ClickHouse; if it trusted the (now empty) ledger it
// would store B's record a second time.
func TestWriterIdlePastAPrune(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, time.Minute)
	pool, err := pgxpool.New(ctx, testenv.Postgres(t, "metering", mpg.MigrationsVersion(), mpg.Migrate))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ledger := mpg.NewLedger(pool)

	var shift atomic.Int64 // how far the writers' clock runs ahead
	clock := func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a := newTestWriter(t, WriterConfig{Conn: conn, Ledger: ledger, Now: clock, LedgerRetention: time.Hour, Registry: regA})
	b := newTestWriter(t, WriterConfig{Conn: conn, Ledger: ledger, Now: clock, LedgerRetention: time.Hour, Registry: regB})
	start := time.Now().Add(-time.Hour)

	if _, err := a.WriteBatch(ctx, batchOf(rec(1, 1, start, 10, 100))); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteBatch(ctx, batchOf(rec(2, 2, start, 20, 200))); err != nil {
		t.Fatal(err)
	}
	var batches int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM usage_batches").Scan(&batches); err != nil || batches != 2 {
		t.Fatalf("ledger holds %d batches (%v) before the retention passed; want 2: nothing pruned yet", batches, err)
	}

	// Two hours later B writes again: its prune deletes both old batches
	// before it begins its own.
	shift.Store(int64(2 * time.Hour))
	if _, err := b.WriteBatch(ctx, batchOf(rec(3, 2, start, 30, 300))); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(b.m.pruned); got != 2 {
		t.Fatalf("B pruned %v batches; want the 2 older than the retention", got)
	}
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM usage_batches").Scan(&batches); err != nil || batches != 1 {
		t.Fatalf("ledger holds %d batches (%v) after the prune; want B's last one", batches, err)
	}

	// A offers B's two records again and one new one.
	res, err := a.WriteBatch(ctx, batchOf(rec(2, 2, start, 20, 200), rec(3, 2, start, 30, 300), rec(4, 1, start, 40, 400)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Stored, []bool{false, false, true}; !equalBools(got, want) {
		t.Fatalf("A stored %v after the prune; want only the new record", got)
	}
	if got := testutil.ToFloat64(a.m.reloads); got != 1 {
		t.Fatalf("A reloaded its keys %v times; want 1", got)
	}
	if s := readSums(t, a); s.rows != 4 || s.up != 100 || s.hourlyUp != 100 || s.dailyUp != 100 {
		t.Fatalf("stored %+v; want 4 records, 100 bytes up in raw, hourly and daily", s)
	}
	// And A goes on from the ledger as before.
	if _, err := b.WriteBatch(ctx, batchOf(rec(5, 2, start, 50, 500))); err != nil {
		t.Fatal(err)
	}
	if res, err := a.WriteBatch(ctx, batchOf(rec(5, 2, start, 50, 500))); err != nil || res.Stored[0] {
		t.Fatalf("A stored B's later record again (%v, %v)", res.Stored, err)
	}
	if got := testutil.ToFloat64(a.m.reloads); got != 1 {
		t.Fatalf("A reloaded its keys %v times; want still 1", got)
	}
}
