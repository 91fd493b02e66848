package rating

import (
	"fmt"
	"math/bits"

	"github.com/simcore/simcore/metering"
)

// Alert is a threshold an ICCID crossed in a period. Each fires at most
// once per ICCID, period and Key; Notice is the notification the subscriber
// gets ("" when the data barring it causes carries the message instead).
type Alert struct {
	Key    string         // data_80, voice_100, balance_below, balance_exhausted, ...
	Notice string         // notification template key
	Data   map[string]any // the template's fields
}

// Crossed lists the thresholds the plan's alerts define that balance and
// the current period's charges have crossed. The caller fires the ones
// not fired before in the period.
func (p *Plan) Crossed(balance Money, cur PeriodCharges) []Alert {
	var out []Alert
	for _, t := range []metering.UsageType{metering.TypeData, metering.TypeVoice, metering.TypeSMS} {
		allowed := p.Allowance(t)
		if allowed == 0 {
			continue
		}
		used := cur.Included(t)
		for _, pc := range p.Alerts.AllowancePercent {
			// used/allowed >= pc/100, in integers (128-bit products:
			// large quantities must not wrap).
			if lessProduct(used, 100, uint64(pc), allowed) {
				continue
			}
			a := Alert{Key: fmt.Sprintf("%s_%d", t, pc), Notice: "usage_threshold", Data: map[string]any{"Percent": pc, "Type": t.String()}}
			if pc == 100 && t == metering.TypeData && p.BarData == BarDataAllowanceExhausted {
				a.Notice, a.Data = "", nil // the barring's "data_barred" says it
			}
			out = append(out, a)
		}
	}
	if b := p.Alerts.balanceBelow; b != nil && balance.Minor > 0 && balance.Minor < b.Minor {
		out = append(out, Alert{Key: "balance_below", Notice: "balance_low", Data: map[string]any{"Balance": balance.String()}})
	}
	barsOnBalance := p.BarData == BarBalanceExhausted || p.BarOutgoing == BarBalanceExhausted
	if balance.Minor <= 0 && (p.Alerts.BalanceExhausted || barsOnBalance) {
		// A plan that bars data or outgoing calls on it tells the
		// subscriber with the barring's notice, which says what is
		// paused; balance_used_up is for plans that bar nothing.
		a := Alert{Key: "balance_exhausted", Notice: "balance_used_up", Data: map[string]any{}}
		if barsOnBalance {
			a.Notice, a.Data = "", nil // the barring's notice says it
		}
		out = append(out, a)
	}
	return out
}

// DataBarring says whether the plan's rule wants mobile data barred given
// the balance and the current period's charges, and why: the reason and the
// notification of the bar, or of lifting it.
func (p *Plan) DataBarring(balance Money, cur PeriodCharges) (bar bool, reason, notice string) {
	switch p.BarData {
	case BarBalanceExhausted:
		if balance.Minor <= 0 {
			return true, BarBalanceExhausted, "balance_exhausted"
		}
	case BarDataAllowanceExhausted:
		if a := p.Allowance(metering.TypeData); a > 0 && cur.Included(metering.TypeData) >= a {
			return true, BarDataAllowanceExhausted, "data_barred"
		}
	}
	return false, "", "data_resumed"
}

// OutgoingBarring says whether the plan's rule wants outgoing calls and SMS
// barred given the balance, and why: the reason and the notification of the
// bar, or of lifting it. The rater sends one notice when it bars (or
// lifts) data and outgoing together: see CombinedBarringNotice.
func (p *Plan) OutgoingBarring(balance Money) (bar bool, reason, notice string) {
	if p.BarOutgoing == BarBalanceExhausted && balance.Minor <= 0 {
		return true, BarBalanceExhausted, "outgoing_barred"
	}
	return false, "", "outgoing_resumed"
}

// CombinedBarringNotice is the one notification of barring (bar true) or
// lifting both data and outgoing calls and SMS in the same evaluation: one
// event (the balance ran out, a top-up) gets one SMS, not two.
func CombinedBarringNotice(bar bool) string {
	if bar {
		return "outgoing_data_barred"
	}
	return "outgoing_data_resumed"
}

// lessProduct reports whether a*b < c*d, without overflow.
func lessProduct(a, b, c, d uint64) bool {
	h1, l1 := bits.Mul64(a, b)
	h2, l2 := bits.Mul64(c, d)
	return h1 < h2 || h1 == h2 && l1 < l2
}
