package rater_test

import (
	logslog "log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/rating"
	"github.com/simcore/simcore/rating/rater"
)

// TestUnbarNotAppliedIsAskedAgain: "A request not applied after 5 minutes
// is asked for again" (docs/rating.md) holds for an unbar after a top-up
// too; a lost unbar used to leave the line barred with money on it.
func TestUnbarNotAppliedIsAskedAgain(t *testing.T) {
	now := day("2026-11-20").Add(12 * time.Hour)
	e := newEnv(t, now)
	iccid := newICCID()
	e.subscribe(iccid, "travel-payg", day("2026-11-05"))

	// 20 MB at 0.015 EUR/MB = 0.30: balance -0.30, barred.
	e.write(rec(iccid, metering.TypeData, day("2026-11-06"), home, 20_000_000, 0))
	if bars := e.net.barsOf(iccid); len(bars) != 1 || !bars[0].Bar {
		t.Fatalf("bars after running out: %+v, want one bar", bars)
	}
	if _, _, err := e.acct.AddCredit(e.ctx, iccid, rating.CreditDirect, "5.00", "", "topup-"+iccid, "test"); err != nil {
		t.Fatal(err)
	}
	if err := e.rater.Evaluate(e.ctx, []string{iccid}); err != nil {
		t.Fatal(err)
	}
	if bars := e.net.barsOf(iccid); len(bars) != 2 || bars[1].Bar {
		t.Fatalf("bars after the top-up: %+v, want bar then unbar", bars)
	}
	// The unbar request was never applied: the network still has data barred.
	e.subs.mu.Lock()
	s := e.subs.m[iccid]
	s.DataBarred = true
	e.subs.m[iccid] = s
	e.subs.mu.Unlock()

	e.setClock(now.Add(10 * time.Minute))
	if err := e.rater.RecheckBarred(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.rater.Evaluate(e.ctx, []string{iccid}); err != nil {
		t.Fatal(err)
	}
	bars := e.net.barsOf(iccid)
	if len(bars) != 3 || bars[2].Bar {
		t.Fatalf("10 minutes after an unapplied unbar, with balance 4.70 EUR: bar calls %+v; want the unbar asked for again", bars)
	}
}

// TestStartDateChangeChargesOnce: a dates change on a live line moves its
// start forward (provisioning takes a start of today or later). The period
// that began on the old start overlaps the new one; its stored charges are
// replaced, not kept beside the new period's, which counted the same
// records twice (ReplaceCharges deleted only periods starting in the
// range). Usage before the new start is outside the line's dates.
func TestStartDateChangeChargesOnce(t *testing.T) {
	e := newEnv(t, day("2026-11-20").Add(12*time.Hour))
	iccid := newICCID()
	sub := e.subscribe(iccid, "travel-payg", day("2026-11-05"))

	// 100 MB at 0.015 EUR/MB = 1.50 each.
	e.write(rec(iccid, metering.TypeData, day("2026-11-06"), home, 100_000_000, 0))
	e.write(rec(iccid, metering.TypeData, day("2026-11-20").Add(10*time.Hour), home, 100_000_000, 0))

	// A dates change today: the line now starts on 2026-11-20.
	e.subs.mu.Lock()
	s := e.subs.m[iccid]
	s.Start = day("2026-11-20")
	e.subs.m[iccid] = s
	e.subs.mu.Unlock()

	e.write(rec(iccid, metering.TypeData, day("2026-11-20").Add(13*time.Hour), home, 100_000_000, 0))

	bal, err := e.store.Balance(e.ctx, sub.SubscriptionID, "EUR")
	if err != nil {
		t.Fatal(err)
	}
	// The two records from the new start on, 1.50 each; the one of 11-06
	// is before the line's (new) start.
	if bal.Minor != -300 {
		charges, _ := e.store.Charges(e.ctx, sub.SubscriptionID, 10)
		t.Fatalf("balance %v after the start moved to 11-20, want -3.00 EUR (two records, each once); charges %+v", bal, charges)
	}
}

// TestHugeRecordDoesNotHaltRating: validation now refuses records over
// metering.MaxRecordOctets, but a stored quantity of 2^63 bytes or more
// (a store written otherwise) used to wrap negative in the charges table,
// fail its CHECK and with it the whole chunk's rating, for every
// subscriber, on every poll. It is stored saturated.
func TestHugeRecordDoesNotHaltRating(t *testing.T) {
	e := newEnv(t, day("2026-11-20").Add(12*time.Hour))
	bad, good := newICCID(), newICCID()
	e.subscribe(bad, "travel-payg", day("2026-11-05"))
	goodSub := e.subscribe(good, "travel-payg", day("2026-11-05"))

	if _, err := e.writer.WriteBatch(e.ctx, &metering.Batch{Records: []metering.Record{
		rec(bad, metering.TypeData, day("2026-11-06"), home, 1<<63, 0),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.writer.WriteBatch(e.ctx, &metering.Batch{Records: []metering.Record{
		rec(good, metering.TypeData, day("2026-11-06"), home, 1_000_000, 0), // 0.015 EUR: 0.02
	}}); err != nil {
		t.Fatal(err)
	}
	_, err := e.rater.CatchUp(e.ctx)
	bal, berr := e.store.Balance(e.ctx, goodSub.SubscriptionID, "EUR")
	if berr != nil {
		t.Fatal(berr)
	}
	if err != nil || bal.Minor != -2 {
		t.Fatalf("CatchUp: %v; another SIM's balance %v, want -0.02 EUR: one oversized record stops all rating", err, bal)
	}
}

// TestUnratedWithoutCatalogueCounted: usage stored before the first
// catalogue import waits unrated; simcore_rating_unrated_sims_total
// {reason="no_catalogue"} counts its SIMs, each batch once however often
// the rater polls, so SimcoreUnratedUsage can fire. The rater used to
// return before it looked at the waiting batches.
func TestUnratedWithoutCatalogueCounted(t *testing.T) {
	now := day("2026-11-20").Add(12 * time.Hour)
	e := newEnv(t, now)
	if _, err := e.pool.Exec(e.ctx, "DELETE FROM rating_catalogues"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	r := rater.New(rater.Config{Settle: time.Hour}, e.store, e.subs, e.usage, e.net, logslog.New(logslog.DiscardHandler), reg)
	a, b := newICCID(), newICCID()
	e.write(rec(a, metering.TypeData, day("2026-11-06"), home, 1000, 0), rec(b, metering.TypeData, day("2026-11-06"), home, 1000, 0))
	for range 3 {
		if n, err := r.CatchUp(e.ctx); err != nil || n != 0 {
			t.Fatalf("CatchUp without a catalogue = %d, %v; want 0, nil", n, err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got float64
	for _, mf := range mfs {
		if mf.GetName() != "simcore_rating_unrated_sims_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == "no_catalogue" {
					got += m.GetCounter().GetValue()
				}
			}
		}
	}
	if got != 2 {
		t.Errorf("unrated no_catalogue = %v after three polls, want 2 (two SIMs, counted once)", got)
	}
}
