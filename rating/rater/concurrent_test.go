package rater_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/rating"
	"github.com/simcore/simcore/rating/rater"
)

// gatedUsage reads usage, then waits at a gate before answering: a slow
// `simcore rerate` whose usage query returned just before more usage
// landed.
type gatedUsage struct {
	rating.UsageSource
	once    sync.Once
	read    chan struct{}
	release chan struct{}
}

func (g *gatedUsage) DailyUsage(ctx context.Context, r rating.Rounding, iccids []string, from, to time.Time) (map[string][]rating.Usage, error) {
	u, err := g.UsageSource.DailyUsage(ctx, r, iccids, from, to)
	g.once.Do(func() {
		close(g.read)
		<-g.release
	})
	return u, err
}

// TestRerateRacingRater: `simcore rerate` (run by an operator after a
// tariff import) rates the same SIMs as the running rater, outside its
// lock. A rerate that read the usage before a batch landed and wrote its
// charges after the rater rated that batch replaces the rater's charges
// with charges that lack the batch: the batch's usage goes unbilled (and
// unseen by allowances and barring) until more usage of that SIM arrives,
// if ever.
func TestRerateRacingRater(t *testing.T) {
	e := newEnv(t, day("2026-11-20").Add(12*time.Hour))
	iccid := newICCID()
	sub := e.subscribe(iccid, "uk-monthly", day("2026-10-01"))

	// 2 MB roaming outside the allowance zones: 1.00 GBP.
	e.write(rec(iccid, metering.TypeData, day("2026-11-02"), world, 2_000_000, 0))

	g := &gatedUsage{UsageSource: e.usage, read: make(chan struct{}), release: make(chan struct{})}
	rerate := rater.New(rater.Config{Settle: time.Hour}, e.store, e.subs, g, e.net, slog(), nil)
	rerate.SetClock(e.clock)
	rerateDone := make(chan error, 1)
	go func() { rerateDone <- rerate.Rerate(e.ctx, []string{iccid}, day("2026-11-01"), day("2026-12-01")) }()
	<-g.read // the rerate has read the first 2 MB

	// Another 2 MB lands, and the running rater rates it.
	if _, err := e.writer.WriteBatch(e.ctx, &metering.Batch{Records: []metering.Record{
		rec(iccid, metering.TypeData, day("2026-11-05"), world, 2_000_000, 0),
	}}); err != nil {
		t.Fatal(err)
	}
	catchUp := make(chan error, 1)
	go func() { _, err := e.rater.CatchUp(e.ctx); catchUp <- err }()
	select {
	case err := <-catchUp:
		if err != nil {
			t.Fatal(err)
		}
		catchUp = nil
	case <-time.After(2 * time.Second): // waits for the rerate: fine
	}
	close(g.release)
	if err := <-rerateDone; err != nil {
		t.Fatal(err)
	}
	if catchUp != nil {
		if err := <-catchUp; err != nil {
			t.Fatal(err)
		}
	}

	pc, err := e.store.PeriodCharges(e.ctx, sub.SubscriptionID, rating.Period{Start: day("2026-11-01"), End: day("2026-12-01")}, "GBP")
	if err != nil {
		t.Fatal(err)
	}
	var used, amount int64
	for _, l := range pc.Lines {
		used += int64(l.Used)
		amount += l.Amount
	}
	if used != 4_000_000 || amount != 200 {
		t.Fatalf("November charges after a rerate raced the rater: %d bytes, %d minor; want 4000000 bytes, 200 (both batches)", used, amount)
	}
}
