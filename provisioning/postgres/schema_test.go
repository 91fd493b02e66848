package postgres_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestSchemaInvariants writes around the store to check that the database
// itself refuses what would put a number on two SIMs.
func TestSchemaInvariants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		name       string
		sql        func(l, other line, spare string) []string
		constraint string
	}{
		{"second live subscription on a SIM", func(l, _ line, _ string) []string {
			return []string{`INSERT INTO subscriptions (subscriber_id, plan_id, msisdn, iccid, status, start_date)
				SELECT subscriber_id, plan_id, '` + newMSISDN() + `', iccid, 'active', start_date FROM subscriptions WHERE id = ` + itoa(l.id)}
		}, "subscriptions_iccid_live"},
		{"number on two live subscriptions", func(l, other line, _ string) []string {
			return []string{`UPDATE subscriptions SET msisdn = '` + l.msisdn + `' WHERE id = ` + itoa(other.id)}
		}, "subscriptions_msisdn_live"},
		{"live subscription on a retired SIM", func(l, _ line, _ string) []string {
			return []string{`UPDATE sims SET state = 'retired' WHERE iccid = '` + l.sim.ICCID + `'`}
		}, "subscriptions_sim_active"},
		{"live subscription moved to a SIM in stock", func(l, _ line, spare string) []string {
			return []string{`UPDATE subscriptions SET iccid = '` + spare + `' WHERE id = ` + itoa(l.id)}
		}, "subscriptions_sim_active"},
		{"reserved without a request", func(_, _ line, spare string) []string {
			return []string{`UPDATE sims SET state = 'reserved' WHERE iccid = '` + spare + `'`}
		}, "sims_reserved"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l, other, spare := e.line(t), e.line(t), e.sim(t)
			err := pgx.BeginFunc(e.ctx, e.pool, func(tx pgx.Tx) error {
				for _, q := range c.sql(l, other, spare.ICCID) {
					if _, err := tx.Exec(e.ctx, q); err != nil {
						return err
					}
				}
				return nil
			})
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.ConstraintName != c.constraint {
				t.Fatalf("error %v, want a violation of %s", err, c.constraint)
			}
		})
	}
	// A swap done by hand in either order passes: the check is at commit.
	l, spare := e.line(t), e.sim(t)
	err := pgx.BeginFunc(context.Background(), e.pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			`UPDATE sims SET state = 'retired' WHERE iccid = '` + l.sim.ICCID + `'`,
			`UPDATE subscriptions SET iccid = '` + spare.ICCID + `' WHERE id = ` + itoa(l.id),
			`UPDATE sims SET state = 'active' WHERE iccid = '` + spare.ICCID + `'`,
		} {
			if _, err := tx.Exec(e.ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("swap by hand: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
