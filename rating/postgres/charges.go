package postgres

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/rating"
)

// ReplaceCharges replaces, for each set, the subscription's charges of
// periods overlapping [From, To) with the set's, all in one transaction:
// readers see the old charges or the new, never a mix. A few statements
// serve any number of sets. Overlapping, not starting within: a set's
// periods follow the subscription's start date, and when a dates change
// moved it, the periods of the old start that overlap the new ones would
// otherwise keep their charges and count the same records twice.
// (Usage before the new start is then outside the subscription's dates,
// like any usage before a start, and shows as unrated.)
func (s *Store) ReplaceCharges(ctx context.Context, version int, sets []rating.ChargeSet) error {
	if len(sets) == 0 {
		return nil
	}
	subs := make([]int64, len(sets))
	froms := make([]time.Time, len(sets))
	tos := make([]time.Time, len(sets))
	var rows [][]any
	for i, set := range sets {
		subs[i], froms[i], tos[i] = set.Sub, set.From, set.To
		for _, pc := range set.Periods {
			for _, l := range pc.Lines {
				rows = append(rows, []any{set.Sub, pc.Period.Start, pc.Period.End, l.Zone, l.Type, sat(l.Records), sat(l.Used),
					sat(l.Included), sat(l.Billable), l.Amount, pc.Currency, l.NotAllowed, set.Plan, version})
			}
		}
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM charges c USING unnest($1::bigint[], $2::date[], $3::date[]) AS r(sub, from_day, to_day)
			WHERE c.subscription_id = r.sub AND c.period_start < r.to_day AND c.period_end > r.from_day`, subs, froms, tos)
		if err != nil {
			return fmt.Errorf("clear charges: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"charges"},
			[]string{"subscription_id", "period_start", "period_end", "zone", "type", "records", "used", "included", "billable", "amount_minor", "currency", "not_allowed", "plan", "catalogue_version"},
			pgx.CopyFromRows(rows))
		if err != nil {
			return fmt.Errorf("store charges: %w", err)
		}
		return nil
	})
}

// sat is v as a bigint column holds it: a quantity past 2^63-1 (validation
// bounds records far below, but a store written otherwise may hold one) is
// stored as the largest, not wrapped negative, which the table's CHECKs
// would refuse, failing the whole chunk's rating for every subscriber.
func sat(v uint64) int64 { return int64(min(v, math.MaxInt64)) }

const chargeColumns = "period_start, period_end, zone, type, records, used, included, billable, amount_minor, currency, not_allowed"

func scanLines(rows pgx.Rows) ([]rating.PeriodCharges, error) {
	defer rows.Close()
	var out []rating.PeriodCharges
	for rows.Next() {
		var (
			per                               rating.Period
			l                                 rating.Line
			records, used, included, billable int64
			currency                          string
		)
		if err := rows.Scan(&per.Start, &per.End, &l.Zone, &l.Type, &records, &used, &included, &billable, &l.Amount, &currency, &l.NotAllowed); err != nil {
			return nil, err
		}
		l.Records, l.Used, l.Included, l.Billable = uint64(records), uint64(used), uint64(included), uint64(billable)
		per.Start, per.End = per.Start.UTC(), per.End.UTC()
		if n := len(out); n == 0 || out[n-1].Period != per {
			out = append(out, rating.PeriodCharges{Period: per, Currency: currency})
		}
		out[len(out)-1].Lines = append(out[len(out)-1].Lines, l)
	}
	return out, rows.Err()
}

// PeriodCharges returns the stored charges of one period of the subscription.
func (s *Store) PeriodCharges(ctx context.Context, sub int64, per rating.Period, currency string) (rating.PeriodCharges, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+chargeColumns+` FROM charges
		WHERE subscription_id = $1 AND period_start = $2 ORDER BY array_position(ARRAY['data','voice','sms'], type), zone`, sub, per.Start)
	if err != nil {
		return rating.PeriodCharges{}, fmt.Errorf("period charges: %w", err)
	}
	pcs, err := scanLines(rows)
	if err != nil || len(pcs) == 0 {
		return rating.PeriodCharges{Period: per, Currency: currency}, err
	}
	return pcs[0], nil
}

// Charges returns the subscription's last limit periods of charges, newest
// first.
func (s *Store) Charges(ctx context.Context, sub int64, limit int) ([]rating.PeriodCharges, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+chargeColumns+` FROM charges
		WHERE subscription_id = $1 AND period_start IN (
			SELECT DISTINCT period_start FROM charges WHERE subscription_id = $1 ORDER BY period_start DESC LIMIT $2)
		ORDER BY period_start DESC, array_position(ARRAY['data','voice','sms'], type), zone`, sub, limit)
	if err != nil {
		return nil, fmt.Errorf("charges: %w", err)
	}
	return scanLines(rows)
}

// Balances is Balance for many subscriptions, in two index scans.
func (s *Store) Balances(ctx context.Context, subs []int64, currency string) (map[int64]rating.Money, error) {
	out := make(map[int64]rating.Money, len(subs))
	for _, id := range subs {
		out[id] = rating.Money{Currency: currency}
	}
	rows, err := s.pool.Query(ctx, `
		SELECT subscription_id, sum(amount_minor) FROM credits WHERE subscription_id = ANY($1) AND currency = $2 GROUP BY 1
		UNION ALL
		SELECT subscription_id, -sum(amount_minor) FROM charges WHERE subscription_id = ANY($1) AND currency = $2 GROUP BY 1`, subs, currency)
	if err != nil {
		return nil, fmt.Errorf("balances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, minor int64
		)
		if err := rows.Scan(&id, &minor); err != nil {
			return nil, err
		}
		m := out[id]
		m.Minor += minor
		out[id] = m
	}
	return out, rows.Err()
}

// Balance is the subscription's credits minus its charges in currency.
func (s *Store) Balance(ctx context.Context, sub int64, currency string) (rating.Money, error) {
	var minor int64
	err := s.pool.QueryRow(ctx, `SELECT
		coalesce((SELECT sum(amount_minor) FROM credits WHERE subscription_id = $1 AND currency = $2), 0) -
		coalesce((SELECT sum(amount_minor) FROM charges WHERE subscription_id = $1 AND currency = $2), 0)`, sub, currency).Scan(&minor)
	if err != nil {
		return rating.Money{}, fmt.Errorf("balance: %w", err)
	}
	return rating.Money{Minor: minor, Currency: currency}, nil
}
