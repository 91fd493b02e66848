package rater_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/rating"
	"github.com/simcore/simcore/rating/rater"
)

// lockGate holds a store's second LockRating until release is closed,
// telling waiting when it gets there: a rater between two chunks.
type lockGate struct {
	rating.Store
	mu      sync.Mutex
	calls   int
	waiting chan struct{}
	release chan struct{}
}

func (g *lockGate) LockRating(ctx context.Context) (func(), error) {
	g.mu.Lock()
	g.calls++
	second := g.calls == 2
	g.mu.Unlock()
	if second {
		close(g.waiting)
		<-g.release
	}
	return g.Store.LockRating(ctx)
}

// TestRaterChunkAfterTariffFixKeepsNewCatalogue: a rater in a long
// catch-up read the catalogue once, before its first chunk. An operator
// imports a tariff fix and runs simcore rerate, which takes the rating
// lock between two of the rater's chunks and charges every SIM under the
// fix; the rater's next chunk then replaced those charges with ones from
// the catalogue it had read before the fix, so its SIMs stayed on the
// wrong tariff until more usage of theirs arrived.
func TestRaterChunkAfterTariffFixKeepsNewCatalogue(t *testing.T) {
	e := newEnv(t, day("2026-11-20"))
	a, b := newICCID(), newICCID()
	e.subscribe(a, "travel-payg", day("2026-11-05"))
	e.subscribe(b, "travel-payg", day("2026-11-05"))
	e.write(
		rec(a, metering.TypeData, day("2026-11-06"), home, 100_000_000, 0), // 100 MB at 0.015: 1.50
		rec(b, metering.TypeData, day("2026-11-06"), home, 100_000_000, 0),
	)
	ids := []string{a, b}
	slices.Sort(ids)

	// The running rater, one SIM per chunk, stopped between its chunks.
	g := &lockGate{Store: e.store, waiting: make(chan struct{}), release: make(chan struct{})}
	running := rater.New(rater.Config{Settle: time.Hour, Chunk: 1}, g, e.subs, e.usage, e.net, slog(), nil)
	running.SetClock(e.clock)
	done := make(chan error, 1)
	go func() { done <- running.Rerate(e.ctx, ids, day("2026-11-01"), day("2026-12-01")) }()
	select {
	case <-g.waiting:
	case err := <-done:
		t.Fatalf("the rater finished without a second chunk: %v", err)
	}

	// The tariff fix and simcore rerate, while the rater is between chunks.
	v := importTariffFix(t, e)
	if err := e.rater.Rerate(e.ctx, ids, day("2026-11-01"), day("2026-12-01")); err != nil {
		t.Fatal(err)
	}

	close(g.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, iccid := range ids {
		st, err := e.acct.Statement(e.ctx, iccid, 1)
		if err != nil {
			t.Fatal(err)
		}
		if st.Balance.Minor != -100 {
			t.Errorf("%s: balance %v after the tariff fix and simcore rerate, want -1.00 EUR (catalogue %d)", iccid, st.Balance, v)
		}
	}
}
