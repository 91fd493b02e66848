package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/rating"
)

// CreateVouchers stores vouchers for codes (their hashes only), all worth
// amount until expires.
func (s *Store) CreateVouchers(ctx context.Context, codes []string, amount rating.Money, expires time.Time, batch string) error {
	rows := make([][]any, len(codes))
	for i, c := range codes {
		rows[i] = []any{rating.VoucherHash(c), amount.Minor, amount.Currency, expires, batch}
	}
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"vouchers"}, []string{"code_hash", "amount_minor", "currency", "expires_at", "batch"}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("store vouchers: %w", err)
	}
	return nil
}

// RedeemVoucher credits the voucher with code to iccid, once: of any number
// of concurrent redemptions of one code exactly one succeeds, the others
// get rating.ErrVoucherRedeemed. currency is the SIM's plan currency.
// Errors: rating.ErrVoucherNotFound, ErrVoucherRedeemed, ErrVoucherExpired,
// ErrCurrency.
func (s *Store) RedeemVoucher(ctx context.Context, code, iccid string, sub int64, currency, by string, now time.Time) (rating.Credit, error) {
	var c rating.Credit
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var (
			id       int64
			amount   int64
			cur      string
			expires  time.Time
			redeemed *time.Time
		)
		// The row lock makes concurrent redemptions of a code queue here;
		// each one after the first sees it redeemed.
		err := tx.QueryRow(ctx, `SELECT id, amount_minor, currency, expires_at, redeemed_at FROM vouchers
			WHERE code_hash = $1 FOR UPDATE`, rating.VoucherHash(code)).Scan(&id, &amount, &cur, &expires, &redeemed)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return rating.ErrVoucherNotFound
		case err != nil:
			return fmt.Errorf("look up voucher: %w", err)
		case redeemed != nil:
			return rating.ErrVoucherRedeemed
		case !now.Before(expires):
			return rating.ErrVoucherExpired
		case cur != currency:
			return fmt.Errorf("%w: the voucher is in %s, the plan in %s", rating.ErrCurrency, cur, currency)
		}
		if _, err := tx.Exec(ctx, "UPDATE vouchers SET redeemed_at = $2, redeemed_iccid = $3 WHERE id = $1", id, now, iccid); err != nil {
			return fmt.Errorf("redeem voucher: %w", err)
		}
		c = rating.Credit{SubscriptionID: sub, ICCID: iccid, Kind: rating.CreditVoucher, Amount: rating.Money{Minor: amount, Currency: cur}, CreatedBy: by}
		err = tx.QueryRow(ctx, `INSERT INTO credits (subscription_id, iccid, kind, amount_minor, currency, voucher_id, created_by, created_at)
			VALUES ($1, $2, 'voucher', $3, $4, $5, $6, $7) RETURNING id, created_at`, sub, iccid, amount, cur, id, by, now).Scan(&c.ID, &c.CreatedAt)
		if err != nil {
			return fmt.Errorf("credit voucher: %w", err)
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", BalanceChannel, iccid)
		return err
	})
	return c, err
}

// AddCredit stores a direct credit once per idempotency key: the same key
// with the same credit returns the first one (created false); with another
// credit it is rating.ErrIdempotencyKey.
func (s *Store) AddCredit(ctx context.Context, c rating.Credit) (rating.Credit, bool, error) {
	if c.IdempotencyKey == "" {
		return c, false, fmt.Errorf("%w: a credit needs an idempotency key", rating.ErrInvalid)
	}
	created := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO credits (subscription_id, iccid, kind, amount_minor, currency, idempotency_key, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, created_at`,
			c.SubscriptionID, c.ICCID, c.Kind, c.Amount.Minor, c.Amount.Currency, c.IdempotencyKey, c.CreatedBy).Scan(&c.ID, &c.CreatedAt)
		if err == nil {
			created = true
			_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", BalanceChannel, c.ICCID)
			return err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("add credit: %w", err)
		}
		var prev rating.Credit
		err = tx.QueryRow(ctx, `SELECT id, subscription_id, iccid, kind, amount_minor, currency, created_by, created_at FROM credits WHERE idempotency_key = $1`,
			c.IdempotencyKey).Scan(&prev.ID, &prev.SubscriptionID, &prev.ICCID, &prev.Kind, &prev.Amount.Minor, &prev.Amount.Currency, &prev.CreatedBy, &prev.CreatedAt)
		if err != nil {
			return fmt.Errorf("look up credit: %w", err)
		}
		prev.IdempotencyKey = c.IdempotencyKey
		if prev.SubscriptionID != c.SubscriptionID || prev.Kind != c.Kind || prev.Amount != c.Amount {
			return rating.ErrIdempotencyKey
		}
		c = prev
		return nil
	})
	return c, created, err
}

// Credits lists the subscription's last limit credits, newest first.
func (s *Store) Credits(ctx context.Context, sub int64, limit int) ([]rating.Credit, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, subscription_id, iccid, kind, amount_minor, currency, coalesce(idempotency_key, ''), created_by, created_at
		FROM credits WHERE subscription_id = $1 ORDER BY id DESC LIMIT $2`, sub, limit)
	if err != nil {
		return nil, fmt.Errorf("credits: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (rating.Credit, error) {
		var c rating.Credit
		err := r.Scan(&c.ID, &c.SubscriptionID, &c.ICCID, &c.Kind, &c.Amount.Minor, &c.Amount.Currency, &c.IdempotencyKey, &c.CreatedBy, &c.CreatedAt)
		return c, err
	})
}
