package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/testenv"
	mpg "github.com/simcore/simcore/metering/postgres"
	"github.com/simcore/simcore/numbering"
	"github.com/simcore/simcore/rating"
	"github.com/simcore/simcore/rating/postgres"
)

func newStore(t *testing.T) (*postgres.Store, *pgxpool.Pool, context.Context) {
	t.Helper()
	ctx := testenv.Context(t, 2*time.Minute)
	url := testenv.Postgres(t, "rating", mpg.MigrationsVersion()+postgres.MigrationsVersion(), func(ctx context.Context, url string) error {
		if err := mpg.Migrate(ctx, url); err != nil {
			return err
		}
		return postgres.Migrate(ctx, url)
	})
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 40 // more than the racers below
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return postgres.New(pool), pool, ctx
}

func iccid(n int) string {
	p := fmt.Sprintf("894410%012d", n)
	return p + string(numbering.LuhnCheckDigit(p))
}

// TestConcurrentVoucherRedemption: of many SIMs redeeming one code at the
// same moment, exactly one is credited.
func TestConcurrentVoucherRedemption(t *testing.T) {
	store, pool, ctx := newStore(t)
	now := time.Now()
	for round := range 5 {
		code := rating.NewVoucherCode()
		if err := store.CreateVouchers(ctx, []string{code}, rating.Money{Minor: 500, Currency: "EUR"}, now.Add(time.Hour), "race"); err != nil {
			t.Fatal(err)
		}
		const racers = 32
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, racers)
		)
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = store.RedeemVoucher(ctx, code, iccid(round*100+i), int64(round*100+i), "EUR", "test", now)
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, rating.ErrVoucherRedeemed):
				t.Errorf("racer %d: %v, want ErrVoucherRedeemed", i, err)
			}
		}
		var credited, n int64
		if err := pool.QueryRow(ctx, `SELECT coalesce(sum(c.amount_minor), 0), count(*) FROM credits c
			JOIN vouchers v ON v.id = c.voucher_id WHERE v.code_hash = $1`, rating.VoucherHash(code)).Scan(&credited, &n); err != nil {
			t.Fatal(err)
		}
		if ok != 1 || n != 1 || credited != 500 {
			t.Fatalf("round %d: %d redemptions succeeded, %d credits worth %d; want exactly one of 500", round, ok, n, credited)
		}
	}
}

func TestVoucherErrors(t *testing.T) {
	store, _, ctx := newStore(t)
	now := time.Now()
	valid, expired := rating.NewVoucherCode(), rating.NewVoucherCode()
	if err := store.CreateVouchers(ctx, []string{valid}, rating.Money{Minor: 1000, Currency: "GBP"}, now.Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateVouchers(ctx, []string{expired}, rating.Money{Minor: 1000, Currency: "GBP"}, now.Add(-time.Second), ""); err != nil {
		t.Fatal(err)
	}
	sim := iccid(900)
	tests := []struct {
		name, code, currency string
		want                 error
	}{
		{"unknown code", rating.NewVoucherCode(), "GBP", rating.ErrVoucherNotFound},
		{"expired", expired, "GBP", rating.ErrVoucherExpired},
		{"other currency", valid, "EUR", rating.ErrCurrency},
		// Written as people type it: lower case, spaces instead of dashes.
		{"redeemed", "  " + lowerSpaced(valid), "GBP", nil},
		{"again", valid, "GBP", rating.ErrVoucherRedeemed},
	}
	for _, tc := range tests {
		c, err := store.RedeemVoucher(ctx, tc.code, sim, 900, tc.currency, "test", now)
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: err %v, want %v", tc.name, err, tc.want)
		}
		if err == nil && (c.Amount != rating.Money{Minor: 1000, Currency: "GBP"} || c.Kind != rating.CreditVoucher) {
			t.Errorf("%s: credit %+v", tc.name, c)
		}
	}
	bal, err := store.Balance(ctx, 900, "GBP")
	if err != nil || bal.Minor != 1000 {
		t.Errorf("balance %v, %v; want 10.00 GBP", bal, err)
	}
}

func lowerSpaced(code string) string {
	out := []byte(code)
	for i, c := range out {
		switch {
		case c == '-':
			out[i] = ' '
		case c >= 'A' && c <= 'Z':
			out[i] = c + 'a' - 'A'
		}
	}
	return string(out)
}
