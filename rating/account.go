package rating

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/simcore/simcore/metering"
)

// Credits keeps credits and vouchers (rating/postgres).
type Credits interface {
	AddCredit(ctx context.Context, c Credit) (Credit, bool, error)
	RedeemVoucher(ctx context.Context, code, iccid string, sub int64, currency, by string, now time.Time) (Credit, error)
	Credits(ctx context.Context, sub int64, limit int) ([]Credit, error)
}

// Accounts answers balance questions and takes top-ups, for the CLI and
// the portal alike.
type Accounts struct {
	Store   Store
	Credits Credits
	Subs    Subscriptions
	Now     func() time.Time
}

func (a *Accounts) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// AllowanceState is one allowance in the current period.
type AllowanceState struct {
	Type      string `json:"type"`
	Unit      string `json:"unit"` // bytes, seconds, messages
	Included  uint64 `json:"included"`
	Used      uint64 `json:"used"`
	Remaining uint64 `json:"remaining"`
}

// Statement is a SIM's money and allowances.
type Statement struct {
	ICCID      string           `json:"iccid"`
	Plan       string           `json:"plan"`
	Balance    Money            `json:"balance"`
	Period     *Period          `json:"period,omitempty"` // the current one, if the plan is in effect
	Allowances []AllowanceState `json:"allowances"`
	DataBarred bool             `json:"data_barred"`
	// OutgoingBarred: outgoing calls and SMS are barred (balance used up).
	OutgoingBarred bool `json:"outgoing_barred"`
	// Charges are the last periods' charges, newest first.
	Charges []PeriodCharges `json:"charges"`
	Credits []Credit        `json:"credits"`
}

// plan finds the live subscription of iccid and its catalogue plan.
func (a *Accounts) plan(ctx context.Context, iccid string) (Subscriber, *Plan, error) {
	if err := metering.ValidateICCID(iccid); err != nil {
		return Subscriber{}, nil, fmt.Errorf("%w: iccid: %v", ErrInvalid, err)
	}
	subs, err := a.Subs.Live(ctx, []string{iccid})
	if err != nil {
		return Subscriber{}, nil, err
	}
	// Live also finds a subscription by a card it left: a balance is
	// asked for by the card in the subscriber's hand.
	subs = slices.DeleteFunc(subs, func(s Subscriber) bool { return s.ICCID != iccid })
	if len(subs) == 0 {
		return Subscriber{}, nil, fmt.Errorf("%w: no live subscription on %s", ErrNoPlan, iccid)
	}
	cat, _, err := a.Store.Catalogue(ctx)
	if err != nil {
		return Subscriber{}, nil, err
	}
	p, ok := cat.Plan(subs[0].Plan)
	if !ok {
		return Subscriber{}, nil, fmt.Errorf("%w: plan %q is not in the tariff catalogue", ErrNoPlan, subs[0].Plan)
	}
	return subs[0], p, nil
}

// Statement returns the SIM's balance, allowances in the current period,
// and its last periods of charges and last credits.
func (a *Accounts) Statement(ctx context.Context, iccid string, periods int) (Statement, error) {
	sub, p, err := a.plan(ctx, iccid)
	if err != nil {
		return Statement{}, err
	}
	st := Statement{ICCID: iccid, Plan: p.Name, DataBarred: sub.DataBarred, OutgoingBarred: sub.OutgoingBarred, Allowances: []AllowanceState{}}
	if st.Balance, err = a.Store.Balance(ctx, sub.SubscriptionID, p.Currency()); err != nil {
		return st, err
	}
	if per, ok := p.PeriodAt(sub.Start, sub.End, a.now()); ok {
		st.Period = &per
		cur, err := a.Store.PeriodCharges(ctx, sub.SubscriptionID, per, p.Currency())
		if err != nil {
			return st, err
		}
		for _, t := range []metering.UsageType{metering.TypeData, metering.TypeVoice, metering.TypeSMS} {
			inc := p.Allowance(t)
			if inc == 0 {
				continue
			}
			used := cur.Included(t)
			st.Allowances = append(st.Allowances, AllowanceState{Type: t.String(), Unit: unitOf(t), Included: inc, Used: used, Remaining: inc - min(used, inc)})
		}
	}
	if st.Charges, err = a.Store.Charges(ctx, sub.SubscriptionID, max(periods, 1)); err != nil {
		return st, err
	}
	if st.Charges == nil {
		st.Charges = []PeriodCharges{}
	}
	if st.Credits, err = a.Credits.Credits(ctx, sub.SubscriptionID, 20); err != nil {
		return st, err
	}
	if st.Credits == nil {
		st.Credits = []Credit{}
	}
	return st, nil
}

func unitOf(t metering.UsageType) string {
	switch t {
	case metering.TypeData:
		return "bytes"
	case metering.TypeVoice:
		return "seconds"
	}
	return "messages"
}

// RedeemVoucher tops the SIM up with a voucher code.
func (a *Accounts) RedeemVoucher(ctx context.Context, iccid, code, by string) (Credit, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		return Credit{}, fmt.Errorf("%w: code: required", ErrInvalid)
	}
	sub, p, err := a.plan(ctx, iccid)
	if err != nil {
		return Credit{}, err
	}
	return a.Credits.RedeemVoucher(ctx, code, iccid, sub.SubscriptionID, p.Currency(), by, a.now())
}

// AddCredit credits amount (a decimal in the plan's currency) to the SIM
// once per idempotency key; created is false when the key was seen before.
func (a *Accounts) AddCredit(ctx context.Context, iccid, kind, amount, currency, key, by string) (Credit, bool, error) {
	if kind != CreditDirect && kind != CreditPlanPurchase {
		return Credit{}, false, fmt.Errorf("%w: kind: want %s or %s", ErrInvalid, CreditDirect, CreditPlanPurchase)
	}
	if strings.TrimSpace(key) == "" || len(key) > 200 {
		return Credit{}, false, fmt.Errorf("%w: idempotency_key: required, at most 200 characters", ErrInvalid)
	}
	sub, p, err := a.plan(ctx, iccid)
	if err != nil {
		return Credit{}, false, err
	}
	if currency == "" {
		currency = p.Currency()
	}
	if currency != p.Currency() {
		return Credit{}, false, fmt.Errorf("%w: the credit is in %s, the plan in %s", ErrCurrency, currency, p.Currency())
	}
	m, err := ParseMoney(amount, currency)
	if err != nil {
		return Credit{}, false, fmt.Errorf("%w: amount: %w", ErrInvalid, err)
	}
	if m.Minor <= 0 {
		return Credit{}, false, fmt.Errorf("%w: amount: must be above zero", ErrInvalid)
	}
	return a.Credits.AddCredit(ctx, Credit{SubscriptionID: sub.SubscriptionID, ICCID: iccid, Kind: kind, Amount: m, IdempotencyKey: key, CreatedBy: by})
}

// IsNotFound reports whether err means the thing asked about does not
// exist (for mapping to 404).
func IsNotFound(err error) bool {
	return errors.Is(err, ErrVoucherNotFound) || errors.Is(err, ErrNoPlan)
}
