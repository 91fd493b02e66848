package rater_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/rating"
	rpg "github.com/simcore/simcore/rating/postgres"
)

const (
	home  = "23415"
	eu    = "26201"
	world = "310260"
)

// TestLateAndDuplicateRecords: records delivered twice count once, a late
// record re-rates its own (earlier) period, and rating everything again
// from the start changes nothing.
func TestLateAndDuplicateRecords(t *testing.T) {
	e := newEnv(t, day("2026-11-20").Add(12*time.Hour))
	iccid := newICCID()
	e.subscribe(iccid, "uk-monthly", day("2026-10-01"))

	first := []metering.Record{
		rec(iccid, metering.TypeData, day("2026-11-02").Add(time.Hour), home, 4_000_500, 0), // 1 KB blocks: 4,001,000
		rec(iccid, metering.TypeVoice, day("2026-11-03"), home, 0, 61),                      // per minute: 120 s
		rec(iccid, metering.TypeSMS, day("2026-11-03"), home, 0, 0),
		rec(iccid, metering.TypeSMS, day("2026-11-04"), home, 0, 0),
	}
	e.write(first...)
	second := append([]metering.Record{}, first...) // delivered again
	second = append(second,
		// Late: October, roaming outside the allowance zones: 2 MB at
		// 0.50 GBP = 1.00.
		rec(iccid, metering.TypeData, day("2026-10-31").Add(23*time.Hour), world, 2_000_000, 0),
		// EU data: 5,999,000 bytes are left of the allowance; 1,001,000
		// at 0.02 per MB = 0.02002, charged 0.03.
		rec(iccid, metering.TypeData, day("2026-11-10"), eu, 7_000_000, 0),
	)
	e.write(second...)

	want := []rating.PeriodCharges{
		{Period: rating.Period{Start: day("2026-11-01"), End: day("2026-12-01")}, Currency: "GBP", Lines: []rating.Line{
			{Zone: "eu", Type: "data", Records: 1, Used: 7_000_000, Included: 5_999_000, Billable: 1_001_000, Amount: 3},
			{Zone: "home", Type: "data", Records: 1, Used: 4_001_000, Included: 4_001_000},
			{Zone: "home", Type: "voice", Records: 1, Used: 120, Included: 120},
			{Zone: "home", Type: "sms", Records: 2, Used: 2, Included: 2},
		}},
		{Period: rating.Period{Start: day("2026-10-01"), End: day("2026-11-01")}, Currency: "GBP", Lines: []rating.Line{
			{Zone: "world", Type: "data", Records: 1, Used: 2_000_000, Billable: 2_000_000, Amount: 100},
		}},
	}
	check := func(when string) {
		t.Helper()
		got, err := e.store.Charges(e.ctx, e.subs.m[iccid].SubscriptionID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s: charges (-want +got):\n%s", when, diff)
		}
		st, err := e.acct.Statement(e.ctx, iccid, 3)
		if err != nil {
			t.Fatal(err)
		}
		if st.Balance != (rating.Money{Minor: -103, Currency: "GBP"}) {
			t.Errorf("%s: balance %v, want -1.03 GBP", when, st.Balance)
		}
		wantAllow := []rating.AllowanceState{
			{Type: "data", Unit: "bytes", Included: 10_000_000, Used: 10_000_000, Remaining: 0},
			{Type: "voice", Unit: "seconds", Included: 600, Used: 120, Remaining: 480},
			{Type: "sms", Unit: "messages", Included: 5, Used: 2, Remaining: 3},
		}
		if diff := cmp.Diff(wantAllow, st.Allowances); diff != "" {
			t.Errorf("%s: allowances (-want +got):\n%s", when, diff)
		}
	}
	check("after the replay")
	notices := e.net.noticesOf(iccid)

	// Rate everything again from the first batch: same charges, and no
	// threshold fires twice.
	if _, err := e.pool.Exec(e.ctx, "UPDATE rating_cursor SET seq = 0"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.rater.CatchUp(e.ctx); err != nil || n != 2 {
		t.Fatalf("re-rate: %d batches, %v", n, err)
	}
	check("after re-rating")
	if diff := cmp.Diff(notices, e.net.noticesOf(iccid)); diff != "" {
		t.Errorf("re-rating sent notices again (-before +after):\n%s", diff)
	}
}

// TestThresholdsBarringAndNewPeriod: each threshold fires once per period;
// an exhausted data allowance bars data; the next period lifts the bar;
// usage at the boundary lands in the right period.
func TestThresholdsBarringAndNewPeriod(t *testing.T) {
	e := newEnv(t, day("2026-11-20"))
	iccid := newICCID()
	e.subscribe(iccid, "uk-monthly", day("2026-11-01"))

	e.write(rec(iccid, metering.TypeData, day("2026-11-02"), home, 8_000_000, 0)) // 80%
	e.write(rec(iccid, metering.TypeData, day("2026-11-03"), home, 1_000_000, 0)) // 90%
	if got := e.net.noticesOf(iccid); !cmp.Equal(got, []string{"usage_threshold"}) {
		t.Fatalf("notices at 90%% = %v, want one usage_threshold", got)
	}
	if bars := e.net.barsOf(iccid); len(bars) != 0 {
		t.Fatalf("barred before the allowance ran out: %v", bars)
	}

	// The last second of November: 100%.
	e.write(rec(iccid, metering.TypeData, day("2026-12-01").Add(-time.Second), home, 1_000_000, 0))
	wantBar := []barCall{{ICCID: iccid, Bar: true, Reason: rating.BarDataAllowanceExhausted, Notice: "data_barred"}}
	if diff := cmp.Diff(wantBar, e.net.barsOf(iccid)); diff != "" {
		t.Fatalf("bar calls (-want +got):\n%s", diff)
	}
	e.write(rec(iccid, metering.TypeData, day("2026-11-05"), home, 500_000, 0)) // beyond: still barred, no new request
	if n := len(e.net.barsOf(iccid)); n != 1 {
		t.Fatalf("%d bar requests, want 1", n)
	}
	if got := e.net.noticesOf(iccid); !cmp.Equal(got, []string{"usage_threshold"}) {
		t.Errorf("notices = %v: the 100%% alert's message is the barring's", got)
	}
	alerts, err := e.store.Alerts(e.ctx, e.subs.m[iccid].SubscriptionID)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, a := range alerts {
		keys = append(keys, a.Key)
	}
	if !cmp.Equal(keys, []string{"data_80", "data_100"}) {
		t.Errorf("alerts fired %v, want data_80 then data_100", keys)
	}

	// December: the new period lifts the bar without any new usage.
	e.setClock(day("2026-12-01").Add(time.Minute))
	if err := e.rater.RecheckBarred(e.ctx); err != nil {
		t.Fatal(err)
	}
	wantBar = append(wantBar, barCall{ICCID: iccid, Bar: false, Reason: "lifted", Notice: "data_resumed"})
	if diff := cmp.Diff(wantBar, e.net.barsOf(iccid)); diff != "" {
		t.Fatalf("bar calls after the period ended (-want +got):\n%s", diff)
	}
	// The first second of December is December's.
	e.write(rec(iccid, metering.TypeData, day("2026-12-01"), home, 1_000_000, 0))
	st, err := e.acct.Statement(e.ctx, iccid, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Charges) != 2 || st.Charges[0].Period.Start != day("2026-12-01") || st.Charges[0].Included(metering.TypeData) != 1_000_000 {
		t.Fatalf("December charges = %+v", st.Charges)
	}
	if nov := st.Charges[1]; nov.Lines[0].Used != 10_500_000 || nov.Total().Minor != 1 {
		// 0.5 MB beyond the allowance at 0.01/MB = 0.005, charged 0.01.
		t.Errorf("November = %+v, want 10,500,000 bytes and 0.01 GBP", nov)
	}
	if st.Allowances[0].Used != 1_000_000 {
		t.Errorf("December data used %d, want 1,000,000", st.Allowances[0].Used)
	}
}

// TestBalanceBarringAndTopUp: a pay-as-you-go SIM is warned when its balance
// runs low, barred when it runs out, and unbarred by a voucher top-up, which
// reaches the running rater by notification.
func TestBalanceBarringAndTopUp(t *testing.T) {
	e := newEnv(t, day("2026-11-20"))
	iccid := newICCID()
	e.subscribe(iccid, "travel-payg", day("2026-11-05"))

	c, created, err := e.acct.AddCredit(e.ctx, iccid, rating.CreditDirect, "1.00", "", "pay-1", "test")
	if err != nil || !created || c.Amount != (rating.Money{Minor: 100, Currency: "EUR"}) {
		t.Fatalf("credit: %+v %v %v", c, created, err)
	}
	if _, created, err := e.acct.AddCredit(e.ctx, iccid, rating.CreditDirect, "1.00", "EUR", "pay-1", "test"); err != nil || created {
		t.Fatalf("same credit again: created %v, %v; want the first one back", created, err)
	}
	if _, _, err := e.acct.AddCredit(e.ctx, iccid, rating.CreditDirect, "2.00", "EUR", "pay-1", "test"); !errors.Is(err, rating.ErrIdempotencyKey) {
		t.Fatalf("another credit under the same key: %v", err)
	}
	if _, _, err := e.acct.AddCredit(e.ctx, iccid, rating.CreditDirect, "2.00", "GBP", "pay-2", "test"); !errors.Is(err, rating.ErrCurrency) {
		t.Fatalf("credit in GBP on a EUR plan: %v", err)
	}

	// 50 MB at 0.015/MB = 0.75: 0.25 left, under the 2.00 warning level.
	e.write(rec(iccid, metering.TypeData, day("2026-11-06"), home, 50_000_000, 0))
	e.net.mu.Lock()
	got := e.net.notices
	e.net.mu.Unlock()
	if len(got) != 1 || got[0].Notice != "balance_low" || got[0].Data["Balance"] != "0.25 EUR" {
		t.Fatalf("notices = %+v, want balance_low with 0.25 EUR", got)
	}
	// 20 MB more: 0.30, balance -0.05: barred.
	e.write(rec(iccid, metering.TypeData, day("2026-11-07"), home, 20_000_000, 0))
	wantBar := []barCall{{ICCID: iccid, Bar: true, Reason: rating.BarBalanceExhausted, Notice: "balance_exhausted"}}
	if diff := cmp.Diff(wantBar, e.net.barsOf(iccid)); diff != "" {
		t.Fatalf("bar calls (-want +got):\n%s", diff)
	}

	// The running rater hears of the top-up and lifts the bar.
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	wake := make(chan string, 16)
	go rpg.Listen(ctx, e.pool, wake, slog())
	done := make(chan error, 1)
	go func() { done <- e.rater.Run(ctx, wake) }()
	code := rating.NewVoucherCode()
	if err := e.store.CreateVouchers(e.ctx, []string{code}, rating.Money{Minor: 1000, Currency: "EUR"}, day("2027-01-01"), "test"); err != nil {
		t.Fatal(err)
	}
	// Redeem once the listener listens: a notification sent before is
	// lost, and the recheck that would find the credit anyway runs only
	// every minute. (A fixed 200 ms was not always enough for the
	// listener's own connection on a busy machine.)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle' AND query = 'LISTEN "`+rpg.BalanceChannel+`"'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rater's listener never listened for balance changes")
		}
	}
	if _, err := e.acct.RedeemVoucher(e.ctx, iccid, code, "test"); err != nil {
		t.Fatalf("redeem: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(e.net.barsOf(iccid)) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	wantBar = append(wantBar, barCall{ICCID: iccid, Bar: false, Reason: "lifted", Notice: "data_resumed"})
	if diff := cmp.Diff(wantBar, e.net.barsOf(iccid)); diff != "" {
		t.Fatalf("bar calls after the top-up (-want +got):\n%s", diff)
	}
	st, err := e.acct.Statement(e.ctx, iccid, 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Balance.Minor != 995 || st.DataBarred {
		t.Errorf("balance %v barred %v, want 9.95 EUR and not barred", st.Balance, st.DataBarred)
	}
}

// TestSIMSwapKeepsMoneyAndAllowance: after a swap the balance and the
// period's allowance follow the subscription to the new card, and late
// records from the old card are still charged to it.
func TestSIMSwapKeepsMoneyAndAllowance(t *testing.T) {
	e := newEnv(t, day("2026-11-20"))
	oldCard, newCard := newICCID(), newICCID()
	e.subscribe(oldCard, "uk-monthly", day("2026-11-01"))
	if _, _, err := e.acct.AddCredit(e.ctx, oldCard, rating.CreditDirect, "5.00", "GBP", "swap-test-"+oldCard, "test"); err != nil {
		t.Fatal(err)
	}
	e.write(rec(oldCard, metering.TypeData, day("2026-11-02"), home, 6_000_000, 0))
	e.subs.swap(oldCard, newCard)
	e.write(rec(newCard, metering.TypeData, day("2026-11-15"), home, 3_000_000, 0))
	// A record of the old card's, delivered after the swap.
	e.write(rec(oldCard, metering.TypeData, day("2026-11-10"), home, 2_000_000, 0))

	st, err := e.acct.Statement(e.ctx, newCard, 1)
	if err != nil {
		t.Fatal(err)
	}
	// 11 MB against 10 MB included: 1 MB at 0.01 GBP.
	if st.Balance != (rating.Money{Minor: 499, Currency: "GBP"}) || st.Allowances[0].Used != 10_000_000 {
		t.Errorf("new card: balance %v, data used %d; want 4.99 GBP and all 10 MB", st.Balance, st.Allowances[0].Used)
	}
	if len(st.Charges) != 1 || st.Charges[0].Lines[0].Records != 3 {
		t.Errorf("charges %+v: want one period with the three records", st.Charges)
	}
	if _, err := e.acct.Statement(e.ctx, oldCard, 1); !errors.Is(err, rating.ErrNoPlan) {
		t.Errorf("old card's statement: %v, want ErrNoPlan (it is retired)", err)
	}
}

// TestUsageBeforeTheCatalogue: usage stored before any tariff is imported
// is rated once one is.
func TestUsageBeforeTheCatalogue(t *testing.T) {
	e := newEnv(t, day("2026-11-20"))
	if _, err := e.pool.Exec(e.ctx, "DELETE FROM rating_catalogues"); err != nil {
		t.Fatal(err)
	}
	iccid := newICCID()
	e.subscribe(iccid, "travel-payg", day("2026-11-05"))
	e.write(rec(iccid, metering.TypeData, day("2026-11-06"), home, 1_000_000, 0))
	if cur, err := e.store.Cursor(e.ctx); err != nil || cur != 0 {
		t.Fatalf("cursor %d, %v: moved without a catalogue", cur, err)
	}
	f, err := os.Open("../testdata/catalogue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cat, err := rating.ParseCatalogue(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ImportCatalogue(e.ctx, cat, "late"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.rater.CatchUp(e.ctx); err != nil || n != 1 {
		t.Fatalf("catch up after the import: %d batches, %v", n, err)
	}
	st, err := e.acct.Statement(e.ctx, iccid, 1)
	if err != nil {
		t.Fatal(err)
	}
	// 1 MB at 0.015 EUR: 0.02 (a started cent).
	if st.Balance.Minor != -2 {
		t.Errorf("balance %v, want -0.02 EUR", st.Balance)
	}
}

// TestRerateAfterTariffFix: after a corrected catalogue is imported,
// re-rating a range recomputes its charges under the new version, once.
func TestRerateAfterTariffFix(t *testing.T) {
	e := newEnv(t, day("2026-11-20"))
	iccid := newICCID()
	e.subscribe(iccid, "travel-payg", day("2026-11-05"))
	e.write(rec(iccid, metering.TypeData, day("2026-11-06"), home, 100_000_000, 0)) // 100 MB at 0.015: 1.50
	v := importTariffFix(t, e)
	ids, err := e.usage.ICCIDs(e.ctx, day("2026-11-01"), day("2026-12-01"))
	if err != nil || !slices.Contains(ids, iccid) {
		t.Fatalf("ICCIDs with usage: %v, %v", ids, err)
	}
	for range 2 {
		if err := e.rater.Rerate(e.ctx, ids, day("2026-11-01"), day("2026-12-01")); err != nil {
			t.Fatal(err)
		}
	}
	st, err := e.acct.Statement(e.ctx, iccid, 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Balance.Minor != -100 {
		t.Errorf("balance %v after the fix, want -1.00 EUR", st.Balance)
	}
	var versions []int
	rows, _ := e.pool.Query(e.ctx, "SELECT DISTINCT catalogue_version FROM charges")
	for rows.Next() {
		var n int
		_ = rows.Scan(&n)
		versions = append(versions, n)
	}
	if !slices.Equal(versions, []int{v}) {
		t.Errorf("charges rated by catalogue versions %v, want only %d", versions, v)
	}
}

// importTariffFix imports the test catalogue with its home data price
// corrected from 0.015 to 0.010 per MB, and returns its version.
func importTariffFix(t *testing.T, e *env) int {
	t.Helper()
	doc, err := os.ReadFile("../testdata/catalogue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fixed, err := rating.ParseCatalogue(strings.NewReader(strings.Replace(string(doc), `home:  {data_per_mb: "0.015"`, `home:  {data_per_mb: "0.010"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.store.ImportCatalogue(e.ctx, fixed, "fix")
	if err != nil {
		t.Fatal(err)
	}
	return v
}
