package postgres_test

import (
	"testing"
)

func TestSubscriptionsOnSIMs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, other := e.line(t), e.line(t), e.line(t)
	if _, err := e.pool.Exec(e.ctx, `UPDATE subscriptions SET status = 'ended' WHERE id = $1`, b.id); err != nil {
		t.Fatal(err)
	}
	subs, err := e.store.SubscriptionsOnSIMs(e.ctx, []string{a.sim.ICCID, b.sim.ICCID, "899720100000000000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 || subs[0].ID != b.id || subs[1].ID != a.id {
		t.Fatalf("got %d subscriptions %+v; want b (ended, newer) then a, and not %d", len(subs), subs, other.id)
	}
	if subs[1].MSISDN != a.msisdn || subs[1].Plan.Name != a.plan.Name || subs[1].Forwarding == nil || subs[0].Status != "ended" {
		t.Fatalf("subscription read incompletely: %+v", subs)
	}
	if subs, err := e.store.SubscriptionsOnSIMs(e.ctx, nil); err != nil || len(subs) != 0 {
		t.Fatalf("no ICCIDs: %v, %v", subs, err)
	}
}
