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
	barring  map[int64]rating.BarringRequest // data
	outgoing map[int64]rating.BarringRequest // outgoing calls and SMS
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
	if st.outgoing, err = r.store.OutgoingBarrings(ctx, ids); err != nil {
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
// brings its data and outgoing barring in line with the plan's rules. cur
// is the current period's charges when the caller just computed them.
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
	dataBar, dataReason, dataNotice := plan.DataBarring(balance, *cur)
	outBar, outReason, outNotice := plan.OutgoingBarring(balance)
	dataAsk := r.mustAsk(dataBar, s.DataBarred, st.barring, s.SubscriptionID, now)
	outAsk := r.mustAsk(outBar, s.OutgoingBarred, st.outgoing, s.SubscriptionID, now)
	if dataAsk && outAsk && dataBar == outBar && (!outBar || dataReason == outReason) {
		// One event (the balance ran out, a top-up) bars or lifts both:
		// one SMS says so, sent when the outgoing request (submitted
		// last, so applied last on the line) is done. A data allowance
		// used up as the balance runs out keeps its own notice: the
		// combined one says the balance ran out.
		dataNotice, outNotice = "", rating.CombinedBarringNotice(outBar)
	} else if outAsk && !dataAsk && dataWentAhead(plan, outBar, st, s.SubscriptionID) {
		// The data request of that one event went without a notice and
		// the outgoing one failed to be submitted (the database away, the
		// rater stopping) or was not applied: the outgoing request asked
		// now still says both, or the subscriber never hears of data.
		outNotice = rating.CombinedBarringNotice(outBar)
	}
	if dataAsk {
		if err := r.askBarring(ctx, s, barringKind{"data", r.network.SetDataBarring, r.store.SetDataBarring}, dataBar, dataReason, dataNotice, now); err != nil {
			return err
		}
	}
	if outAsk {
		if err := r.askBarring(ctx, s, barringKind{"outgoing", r.network.SetOutgoingBarring, r.store.SetOutgoingBarring}, outBar, outReason, outNotice, now); err != nil {
			return err
		}
	}
	return nil
}

// dataWentAhead says whether rating has asked for sub's data bar (bar
// true) or its lifting as it now asks for the outgoing one, on a plan that
// bars both when the balance runs out: one event whose data request left
// the notice to the outgoing one. Either the outgoing request was never
// submitted (not asked since the data one), or it was, at the same time
// or after it, and is asked again because it was not applied (its notice,
// sent only with a change that is done, went nowhere).
func dataWentAhead(plan *rating.Plan, bar bool, st state, sub int64) bool {
	if plan.BarData != rating.BarBalanceExhausted || plan.BarOutgoing != rating.BarBalanceExhausted {
		return false
	}
	data, ok := st.barring[sub]
	if !ok || data.Want != bar {
		return false
	}
	out, ok := st.outgoing[sub]
	if !ok {
		return true
	}
	if out.Want != bar {
		return !out.At.After(data.At)
	}
	return !data.At.After(out.At)
}

// mustAsk says whether rating must ask the network for bar (true: barred)
// of a subscription whose bar is barred now, given what rating last asked
// (asked, keyed by subscription).
func (r *Rater) mustAsk(bar, barred bool, asked map[int64]rating.BarringRequest, sub int64, now time.Time) bool {
	last, known := asked[sub]
	switch {
	case bar == barred && (!known || last.Want == bar):
		return false // as it should be
	case !bar && barred && !known:
		return false // barred by someone else (the back office): not rating's to lift
	case bar != barred && known && last.Want == bar && now.Sub(last.At) < r.cfg.Resubmit:
		return false // asked for, not applied yet
	}
	return true
}

// barringKind is one bar rating sets: its name in logs, how the network is
// asked, and where rating records that it asked.
type barringKind struct {
	name   string
	submit func(ctx context.Context, s rating.Subscriber, bar bool, reason, notice string) (string, error)
	record func(ctx context.Context, sub int64, want bool, requestID string, at time.Time) error
}

// askBarring asks the network to bar (or lift) k for s, and records it.
func (r *Rater) askBarring(ctx context.Context, s rating.Subscriber, k barringKind, bar bool, reason, notice string, now time.Time) error {
	if !bar {
		reason = "lifted"
	}
	id, err := k.submit(ctx, s, bar, reason, notice)
	if err != nil {
		return fmt.Errorf("%s barring of subscription %d: %w", k.name, s.SubscriptionID, err)
	}
	action := "unbar"
	if bar {
		action = "bar"
	}
	r.m.barring.WithLabelValues(k.name, action).Inc()
	r.log.Info(k.name+" barring requested", "subscription", s.SubscriptionID, "action", action, "reason", reason, "request", id)
	return k.record(ctx, s.SubscriptionID, bar, id, now)
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
