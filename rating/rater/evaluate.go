package rater

import (
	"context"
	"fmt"
	"time"

	"github.com/simcore/simcore/rating"
)

// state is what evaluating subscriptions of one plan reads, loaded for all
// of them in a few queries.
type state struct {
	balances map[int64]rating.Money
	fired    map[rating.FiredKey]bool
	barring  map[int64]rating.BarringRequest
}

// evaluateGroup evaluates subs, all on plan; current holds the current
// period's charges of those the caller just rated.
func (r *Rater) evaluateGroup(ctx context.Context, plan *rating.Plan, subs []rating.Subscriber, current map[int64]*rating.PeriodCharges) error {
	now := r.now()
	ids := make([]int64, 0, len(subs))
	var since time.Time
	for _, s := range subs {
		per, ok := plan.PeriodAt(s.Start, s.End, now)
		if !ok {
			continue
		}
		ids = append(ids, s.SubscriptionID)
		if since.IsZero() || per.Start.Before(since) {
			since = per.Start
		}
	}
	if len(ids) == 0 {
		return nil
	}
	var (
		st  state
		err error
	)
	if st.balances, err = r.store.Balances(ctx, ids, plan.Currency()); err != nil {
		return err
	}
	if st.fired, err = r.store.AlertsFired(ctx, ids, since); err != nil {
		return err
	}
	if st.barring, err = r.store.DataBarrings(ctx, ids); err != nil {
		return err
	}
	for _, s := range subs {
		if err := r.evaluate(ctx, s, plan, current[s.SubscriptionID], st); err != nil {
			return err
		}
	}
	return nil
}

// evaluate fires the alerts s's current period has crossed, once each, and
// brings its data barring in line with the plan's rule. cur is the current
// period's charges when the caller just computed them.
func (r *Rater) evaluate(ctx context.Context, s rating.Subscriber, plan *rating.Plan, cur *rating.PeriodCharges, st state) error {
	now := r.now()
	per, ok := plan.PeriodAt(s.Start, s.End, now)
	if !ok {
		return nil // not in effect: nothing to alert on
	}
	if cur == nil || cur.Period != per {
		pc, err := r.store.PeriodCharges(ctx, s.SubscriptionID, per, plan.Currency())
		if err != nil {
			return err
		}
		cur = &pc
	}
	balance := st.balances[s.SubscriptionID]
	for _, a := range plan.Crossed(balance, *cur) {
		if sent, fired := st.fired[rating.FiredKey{Sub: s.SubscriptionID, Period: per.Start, Key: a.Key}]; fired && sent {
			continue
		}
		send, err := r.store.FireAlert(ctx, s.SubscriptionID, per.Start, a.Key, a.Notice)
		if err != nil || !send {
			if err != nil {
				return err
			}
			continue
		}
		if a.Notice != "" {
			id := fmt.Sprintf("alert:%d:%s:%s", s.SubscriptionID, per.Start.Format(time.DateOnly), a.Key)
			if err := r.network.Notify(ctx, id, s, a.Notice, a.Data); err != nil {
				return fmt.Errorf("send alert %s: %w", a.Key, err)
			}
		}
		if err := r.store.MarkAlertSent(ctx, s.SubscriptionID, per.Start, a.Key); err != nil {
			return err
		}
		r.m.alerts.WithLabelValues(alertKind(a.Key)).Inc()
	}

	if s.Pending {
		return nil // not on the network yet: nothing to bar or lift
	}
	bar, reason, notice := plan.DataBarring(balance, *cur)
	last, known := st.barring[s.SubscriptionID]
	want, at := last.Want, last.At
	switch {
	case bar == s.DataBarred && (!known || want == bar):
		return nil // as it should be
	case !bar && s.DataBarred && !known:
		return nil // barred by someone else (the back office): not rating's to lift
	case bar != s.DataBarred && known && want == bar && now.Sub(at) < r.cfg.Resubmit:
		return nil // asked for, not applied yet
	}
	if !bar {
		reason = "lifted"
	}
	id, err := r.network.SetDataBarring(ctx, s, bar, reason, notice)
	if err != nil {
		return fmt.Errorf("data barring of subscription %d: %w", s.SubscriptionID, err)
	}
	action := "unbar"
	if bar {
		action = "bar"
	}
	r.m.barring.WithLabelValues(action).Inc()
	r.log.Info("data barring requested", "subscription", s.SubscriptionID, "action", action, "reason", reason, "request", id)
	return r.store.SetDataBarring(ctx, s.SubscriptionID, bar, id, now)
}

// alertKind is a metric label from the fixed set: allowance,
// balance_below, balance_exhausted.
func alertKind(key string) string {
	switch key {
	case "balance_below", "balance_exhausted":
		return key
	}
	return "allowance"
}
