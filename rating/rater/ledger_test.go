package rater_test

import (
	"testing"
	"time"

	"github.com/simcore/simcore/metering"
	mpg "github.com/simcore/simcore/metering/postgres"
)

// TestRatingHoldsTheLedger: rating registers as a reader of metering's
// ledger and moves its hold as it rates, so pruning keeps the batches it has
// not rated. If the hold is gone and batches are pruned unrated, rating says
// so and goes on with the batches that follow instead of stopping.
func TestRatingHoldsTheLedger(t *testing.T) {
	e := newEnv(t, day("2026-11-20"))
	a, b := newICCID(), newICCID()
	e.subscribe(a, "uk-monthly", day("2026-11-01"))
	e.subscribe(b, "uk-monthly", day("2026-11-01"))
	hold := func() uint64 {
		t.Helper()
		var seq int64
		if err := e.pool.QueryRow(e.ctx, "SELECT seq FROM usage_ledger_readers WHERE reader = 'rating'").Scan(&seq); err != nil {
			t.Fatalf("rating's hold: %v", err)
		}
		return uint64(seq)
	}
	if h := hold(); h != 0 {
		t.Fatalf("rating's hold before any usage = %d; want 0", h)
	}

	e.write(rec(a, metering.TypeData, day("2026-11-02"), home, 1_000_000, 0)) // stored and rated
	rated, err := e.store.Cursor(e.ctx)
	if err != nil || rated == 0 {
		t.Fatalf("cursor after rating = %d, %v", rated, err)
	}
	if h := hold(); h != rated {
		t.Fatalf("rating's hold = %d; want its cursor %d", h, rated)
	}
	// Stored, not rated yet.
	if _, err := e.writer.WriteBatch(e.ctx, &metering.Batch{Records: []metering.Record{rec(a, metering.TypeData, day("2026-11-03"), home, 1_000_000, 0)}}); err != nil {
		t.Fatal(err)
	}
	prune := func() metering.Pruned {
		t.Helper()
		lease, err := mpg.NewLedger(e.pool).Acquire(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer lease.Release(e.ctx)
		p, err := lease.Prune(e.ctx, time.Now().Add(time.Hour), 1000) // everything is old enough
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := prune(); p.Through != rated || p.HeldBy != "rating" {
		t.Fatalf("prune with rating behind = %+v; want pruned through %d, held by rating", p, rated)
	}
	if n, err := e.rater.CatchUp(e.ctx); err != nil || n != 1 {
		t.Fatalf("rating the batch kept for it: %d batches, %v; want 1", n, err)
	}

	// An operator deletes the hold; usage of b is stored and pruned before
	// rating sees it.
	if _, err := e.pool.Exec(e.ctx, "DELETE FROM usage_ledger_readers WHERE reader = 'rating'"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.writer.WriteBatch(e.ctx, &metering.Batch{Records: []metering.Record{rec(b, metering.TypeData, day("2026-11-04"), home, 1_000_000, 0)}}); err != nil {
		t.Fatal(err)
	}
	p := prune()
	if p.Deleted == 0 || p.HeldBy != "" {
		t.Fatalf("prune without a hold = %+v; want everything deleted", p)
	}
	if _, err := e.rater.CatchUp(e.ctx); err != nil {
		t.Fatalf("catch up over a pruned gap: %v; want it logged and skipped", err)
	}
	if c, err := e.store.Cursor(e.ctx); err != nil || c != p.Through {
		t.Fatalf("cursor after the gap = %d, %v; want %d", c, err, p.Through)
	}
	// Batches after the gap are rated as usual.
	e.write(rec(b, metering.TypeData, day("2026-11-05"), home, 1_000_000, 0))
	if c, err := e.store.Cursor(e.ctx); err != nil || c <= p.Through {
		t.Fatalf("cursor after the next batch = %d, %v; want past %d", c, err, p.Through)
	}
	charges, err := e.store.Charges(e.ctx, e.subs.m[b].SubscriptionID, 1)
	if err != nil || len(charges) != 1 {
		t.Fatalf("charges of b after the gap: %v, %v; want its period rated", charges, err)
	}
}
