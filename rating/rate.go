package rating

import (
	"cmp"
	"slices"
	"time"

	"github.com/simcore/simcore/metering"
)

// Usage is one ICCID's usage of one type on one serving network on one
// day, with each record's quantity already rounded (Rounding.Quantity) and
// summed: the input to rating. Day is midnight UTC.
type Usage struct {
	Day      time.Time
	MCCMNC   string
	Type     metering.UsageType
	Records  uint64
	Quantity uint64 // rounded bytes, rounded seconds, or messages
}

// Line is the charge of one type of usage in one zone in one period.
type Line struct {
	Zone       string `json:"zone"` // "" for networks in no zone and no default zone
	Type       string `json:"type"` // data, voice, sms
	Records    uint64 `json:"records"`
	Used       uint64 `json:"used"`     // rounded bytes, seconds or messages
	Included   uint64 `json:"included"` // drawn from the allowance
	Billable   uint64 `json:"billable"` // Used - Included, when the zone has a price
	Amount     int64  `json:"amount_minor"`
	NotAllowed bool   `json:"not_allowed,omitempty"` // no zone or no price: stored, flagged, not charged
}

// PeriodCharges is a period's rated usage.
type PeriodCharges struct {
	Period   Period `json:"period"`
	Currency string `json:"currency"`
	Lines    []Line `json:"lines"`
}

// Total is the period's charge.
func (pc PeriodCharges) Total() Money {
	var t int64
	for _, l := range pc.Lines {
		t += l.Amount
	}
	return Money{Minor: t, Currency: pc.Currency}
}

// Included is how much of the allowance of type t the period used.
func (pc PeriodCharges) Included(t metering.UsageType) uint64 {
	var n uint64
	for _, l := range pc.Lines {
		if l.Type == t.String() {
			n += l.Included
		}
	}
	return n
}

// Allowance is the quantity of type t the plan includes per period: bytes,
// seconds or messages.
func (p *Plan) Allowance(t metering.UsageType) uint64 {
	switch t {
	case metering.TypeData:
		return p.Allowances.dataBytes
	case metering.TypeVoice:
		return p.Allowances.VoiceMinutes * 60
	case metering.TypeSMS:
		return p.Allowances.SMS
	}
	return 0
}

// Rate charges one period's usage under plan p of catalogue c. It is a pure
// function: the same usage and tariff give the same charges whatever order
// the records came in, which is what lets the rater recompute a period and
// replace its charges whenever usage in it changes.
//
// Usage outside the period is ignored. Allowances are drawn zone by zone
// in the order of the plan's allowance_zones; what is left beyond them is
// charged at the zone's rates. Usage in a zone the price list has no rates
// for, or on a network in no zone, is flagged NotAllowed and not charged.
func (c *Catalogue) Rate(p *Plan, per Period, usage []Usage) PeriodCharges {
	type key struct {
		zone string
		t    metering.UsageType
	}
	sums := map[key]*Line{}
	for _, u := range usage {
		if !per.Contains(u.Day) {
			continue
		}
		k := key{c.ZoneOf(u.MCCMNC), u.Type}
		l := sums[k]
		if l == nil {
			l = &Line{Zone: k.zone, Type: u.Type.String()}
			sums[k] = l
		}
		l.Records += u.Records
		l.Used += u.Quantity
	}
	rank := func(zone string) int {
		if i := slices.Index(p.AllowanceZones, zone); i >= 0 {
			return i
		}
		return len(p.AllowanceZones)
	}
	keys := make([]key, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(rank(a.zone), rank(b.zone)), cmp.Compare(a.zone, b.zone))
	})
	exp := currencyExponents[p.priceList.Currency]
	left := map[metering.UsageType]uint64{}
	for _, t := range []metering.UsageType{metering.TypeData, metering.TypeVoice, metering.TypeSMS} {
		left[t] = p.Allowance(t)
	}
	out := PeriodCharges{Period: per, Currency: p.priceList.Currency}
	for _, k := range keys {
		l := sums[k]
		if k.zone != "" && slices.Contains(p.AllowanceZones, k.zone) {
			l.Included = min(l.Used, left[k.t])
			left[k.t] -= l.Included
		}
		rest := l.Used - l.Included
		rates, priced := p.priceList.Rates[k.zone]
		switch {
		case k.zone == "" || !priced:
			l.NotAllowed = rest > 0
		default:
			l.Billable = rest
			switch k.t {
			case metering.TypeData:
				l.Amount = charge(rest, rates.data, 1_000_000, exp)
			case metering.TypeVoice:
				l.Amount = charge(rest, rates.voice, 60, exp)
			case metering.TypeSMS:
				l.Amount = charge(rest, rates.sms, 1, exp)
			}
		}
		out.Lines = append(out.Lines, *l)
	}
	return out
}
