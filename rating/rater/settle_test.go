package rater_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/simcore/simcore/metering"
	mch "github.com/simcore/simcore/metering/clickhouse"
	mpg "github.com/simcore/simcore/metering/postgres"
	"github.com/simcore/simcore/rating"
	"github.com/simcore/simcore/rating/rater"
)

// gatedLedger hands out leases whose first Held (the writer's check once
// its INSERT has begun, before any row is sent) waits at a gate: an insert
// that is slow to land.
type gatedLedger struct {
	metering.Ledger
	once    sync.Once
	held    chan struct{}
	release chan struct{}
}

func (g *gatedLedger) Acquire(ctx context.Context) (metering.Lease, error) {
	l, err := g.Ledger.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &gatedLease{Lease: l, g: g}, nil
}

type gatedLease struct {
	metering.Lease
	g *gatedLedger
}

func (l *gatedLease) Held(ctx context.Context) error {
	first := false
	l.g.once.Do(func() { first = true })
	if first {
		close(l.g.held)
		select {
		case <-l.g.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return l.Lease.Held(ctx)
}

// TestBatchRatedWhileWritingIsRatedAgain: a batch still being written
// after the settle time is rated with whatever has landed (its writer may
// have died), and the cursor moves past it. If the writer was only slow,
// its rows land after that rating; the rater must rate the batch again
// once it is finished. It used to charge those rows only if more usage of
// the same SIM in that period came later, so a SIM's last usage of a
// period could go unbilled.
// In "restarted", another rater takes over after that first rating, and
// must find the batch in the ledger.
func TestBatchRatedWhileWritingIsRatedAgain(t *testing.T) {
	for _, restarted := range []bool{false, true} {
		name := "same rater"
		if restarted {
			name = "restarted"
		}
		t.Run(name, func(t *testing.T) { testBatchRatedWhileWriting(t, restarted) })
	}
}

func testBatchRatedWhileWriting(t *testing.T, restarted bool) {
	e := newEnv(t, day("2026-11-20").Add(12*time.Hour))
	iccid := newICCID()
	sub := e.subscribe(iccid, "uk-monthly", day("2026-10-01"))
	november := rating.Period{Start: day("2026-11-01"), End: day("2026-12-01")}
	charged := func() (used, amount int64) {
		t.Helper()
		pc, err := e.store.PeriodCharges(e.ctx, sub.SubscriptionID, november, "GBP")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range pc.Lines {
			used += int64(l.Used)
			amount += l.Amount
		}
		return used, amount
	}
	// 2 MB roaming outside the allowance zones: 1.00 GBP.
	e.write(rec(iccid, metering.TypeData, day("2026-11-02"), world, 2_000_000, 0))

	// A slow writer: its batch is begun in the ledger, its rows not sent,
	// begun just longer ago than the rater's settle time (an hour here):
	// rated as it stands, without its rows.
	release, written := startSlowWrite(t, e, rec(iccid, metering.TypeData, day("2026-11-05"), world, 2_000_000, 0))
	if _, err := e.rater.CatchUp(e.ctx); err != nil {
		t.Fatal(err)
	}
	if used, amount := charged(); used != 2_000_000 || amount != 100 {
		t.Fatalf("charged %d bytes, %d minor before the slow rows landed; want 2000000, 100", used, amount)
	}

	r := e.rater
	if restarted {
		r = rater.New(rater.Config{Settle: time.Hour}, e.store, e.subs, e.usage, e.net, slog(), nil)
		r.SetClock(e.clock)
		if _, err := r.CatchUp(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	release()
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if _, err := r.CatchUp(e.ctx); err != nil {
		t.Fatal(err)
	}
	if used, amount := charged(); used != 4_000_000 || amount != 200 {
		t.Fatalf("charged %d bytes, %d minor after the slow batch landed; want 4000000, 200 (both batches)", used, amount)
	}
}

// TestLeaderAgainFindsBatchesRatedWhileWriting: a process that led, lost
// its lock and leads again (simcore run keeps one Rater across its terms)
// must look at the ledger again when it starts rating: the leader between
// its terms may have rated a batch while it was being written and then
// died. It used to read the ledger only at its first catch-up ever, so
// that batch's late rows went unbilled.
func TestLeaderAgainFindsBatchesRatedWhileWriting(t *testing.T) {
	e := newEnv(t, day("2026-11-20").Add(12*time.Hour))
	iccid := newICCID()
	sub := e.subscribe(iccid, "uk-monthly", day("2026-10-01"))
	november := rating.Period{Start: day("2026-11-01"), End: day("2026-12-01")}
	charged := func() (used int64) {
		t.Helper()
		pc, err := e.store.PeriodCharges(e.ctx, sub.SubscriptionID, november, "GBP")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range pc.Lines {
			used += int64(l.Used)
		}
		return used
	}
	e.write(rec(iccid, metering.TypeData, day("2026-11-02"), world, 2_000_000, 0))

	// This process's first term as leader.
	a := rater.New(rater.Config{Settle: time.Hour, Poll: 20 * time.Millisecond}, e.store, e.subs, e.usage, e.net, slog(), nil)
	a.SetClock(e.clock)
	if _, err := a.CatchUp(e.ctx); err != nil {
		t.Fatal(err)
	}

	// Another leader (e.rater) rates a slow writer's batch while it is
	// being written, then dies.
	release, written := startSlowWrite(t, e, rec(iccid, metering.TypeData, day("2026-11-05"), world, 2_000_000, 0))
	if _, err := e.rater.CatchUp(e.ctx); err != nil {
		t.Fatal(err)
	}
	release()
	if err := <-written; err != nil {
		t.Fatal(err)
	}

	// This process leads again.
	ctx, cancel := context.WithCancel(e.ctx)
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx, make(chan string)) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Error(err)
		}
	}()
	for deadline := time.Now().Add(20 * time.Second); charged() != 4_000_000; {
		if time.Now().After(deadline) {
			t.Fatalf("charged %d bytes 20 s into the new term; want 4000000 (the slow batch rated again)", charged())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startSlowWrite writes r in a batch whose insert is held until release
// is called (or the test ends), once the batch is begun in the ledger, and
// dates the batch's start 61 minutes back: past a settle time of an hour.
// The write's error arrives on written once released.
func startSlowWrite(t *testing.T, e *env, r metering.Record) (release func(), written <-chan error) {
	t.Helper()
	g := &gatedLedger{Ledger: mpg.NewLedger(e.pool), held: make(chan struct{}), release: make(chan struct{})}
	release = sync.OnceFunc(func() { close(g.release) })
	t.Cleanup(release)
	slow, err := mch.NewWriter(e.ctx, mch.WriterConfig{Conn: e.conn, Ledger: g, MaxAge: 90 * 24 * time.Hour, Log: slog(), Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := slow.WriteBatch(e.ctx, &metering.Batch{Records: []metering.Record{r}})
		done <- err
	}()
	select {
	case <-g.held:
	case err := <-done:
		t.Fatalf("the slow write ended before its insert began: %v", err)
	}
	if _, err := e.pool.Exec(e.ctx, `UPDATE usage_batches SET begun_at = now() - interval '61 minutes' WHERE state = 'writing'`); err != nil {
		t.Fatal(err)
	}
	return release, done
}
