package rating

import (
	"context"
	"fmt"
	"time"
)

// Subscriber is a live subscription, as rating needs it. Money and
// allowances belong to the subscription: a SIM swap moves them to the new
// card, and late usage from the old card is still the subscription's.
type Subscriber struct {
	SubscriptionID int64
	ICCID          string   // the card it is on now
	PastICCIDs     []string // cards it was on before SIM swaps
	MSISDN         string
	Language       string
	Plan           string // catalogue plan name
	Start          time.Time
	End            *time.Time
	DataBarred     bool // as the network has it now
	OutgoingBarred bool // outgoing calls and SMS, as the network has it now
	// Pending: the subscription has not been activated on the network
	// yet, so there is nothing to bar.
	Pending bool
}

// Batch is a batch of usage records the ledger finished: whose usage
// (ICCIDs) changed, in which months (YYYYMM).
type Batch struct {
	Seq    uint64
	Months []uint32
	ICCIDs []string
	// Writing: the batch was still being written, and is rated because
	// it settled; rows may land after.
	Writing bool
}

// Cards are all the ICCIDs whose usage is the subscription's.
func (s Subscriber) Cards() []string { return append([]string{s.ICCID}, s.PastICCIDs...) }

// Store is rating's state (rating/postgres), keyed by subscription.
type Store interface {
	// Catalogue is the newest imported catalogue and its version;
	// ErrNoCatalogue before the first import.
	Catalogue(ctx context.Context) (*Catalogue, int, error)
	// Cursor is the last ledger batch rated.
	Cursor(ctx context.Context) (uint64, error)
	SetCursor(ctx context.Context, seq uint64) error
	// Batches returns up to limit finished batches after seq, in order,
	// stopping before the first one still being written unless it began
	// longer than settle ago (its writer died; whatever landed is rated).
	// It fails with a *LedgerGapError when batches after seq have been
	// pruned from the ledger.
	Batches(ctx context.Context, after uint64, settle time.Duration, limit int) ([]Batch, error)
	// Writing returns the batches up to and including through that began
	// within the last `within` and were still being written settle after
	// they began (they still are, or ended later): at start, those a rater
	// before may have rated before their rows had landed. A batch that
	// has ended since is among them: that rater may have died before it
	// rated it again.
	Writing(ctx context.Context, through uint64, settle, within time.Duration) ([]Batch, error)
	// BatchStates returns the ledger state ("writing", "committed",
	// "aborted") of each of seqs still in the ledger.
	BatchStates(ctx context.Context, seqs []uint64) (map[uint64]string, error)
	// LockRating waits until no other process (the rater, simcore rerate)
	// rates, and holds that until unlock is called: reading usage and
	// replacing charges under it, a rating never replaces charges computed
	// from newer usage with its own older ones.
	LockRating(ctx context.Context) (unlock func(), err error)
	// ReplaceCharges replaces each set's charges, all in one transaction.
	ReplaceCharges(ctx context.Context, version int, sets []ChargeSet) error
	// PeriodCharges returns the stored charges of one period.
	PeriodCharges(ctx context.Context, sub int64, per Period, currency string) (PeriodCharges, error)
	// Charges returns the last limit periods' charges, newest first.
	Charges(ctx context.Context, sub int64, limit int) ([]PeriodCharges, error)
	// Balance is credits minus charges, in currency.
	Balance(ctx context.Context, sub int64, currency string) (Money, error)
	// Balances is Balance for many subscriptions at once.
	Balances(ctx context.Context, subs []int64, currency string) (map[int64]Money, error)
	// AlertsFired returns the alerts fired for subs in periods starting at
	// or after since, and whether each one's message was sent.
	AlertsFired(ctx context.Context, subs []int64, since time.Time) (map[FiredKey]bool, error)
	// FireAlert records that the subscription crossed the threshold key
	// in the period starting at period; it returns true when the alert is
	// new or its message has not been sent yet.
	FireAlert(ctx context.Context, sub int64, period time.Time, key, notice string) (bool, error)
	MarkAlertSent(ctx context.Context, sub int64, period time.Time, key string) error
	// DataBarrings returns what rating last asked the network about each
	// subscription's data, and when; those absent were never asked about.
	DataBarrings(ctx context.Context, subs []int64) (map[int64]BarringRequest, error)
	SetDataBarring(ctx context.Context, sub int64, want bool, requestID string, at time.Time) error
	// OutgoingBarrings and SetOutgoingBarring are DataBarrings and
	// SetDataBarring for outgoing calls and SMS.
	OutgoingBarrings(ctx context.Context, subs []int64) (map[int64]BarringRequest, error)
	SetOutgoingBarring(ctx context.Context, sub int64, want bool, requestID string, at time.Time) error
}

// ChargeSet is one subscription's re-rated periods: they replace its
// charges of periods starting in [From, To).
type ChargeSet struct {
	Sub      int64
	Plan     string
	From, To time.Time
	Periods  []PeriodCharges
}

// FiredKey names a fired alert.
type FiredKey struct {
	Sub    int64
	Period time.Time
	Key    string
}

// BarringRequest is what rating last asked the network about a
// subscription's data (or its outgoing calls and SMS), and when.
type BarringRequest struct {
	Want bool
	At   time.Time
}

// Subscriptions finds live subscriptions (provisioning).
type Subscriptions interface {
	// Live returns the live subscriptions on, or formerly on, iccids.
	Live(ctx context.Context, iccids []string) ([]Subscriber, error)
	// Barred lists live subscriptions whose data, or outgoing calls and
	// SMS, are barred.
	Barred(ctx context.Context) ([]Subscriber, error)
}

// UsageSource aggregates stored usage (rating/clickhouse): per ICCID, each
// day's usage by network and type in [from, to), every record's quantity
// rounded by r before it is summed.
type UsageSource interface {
	DailyUsage(ctx context.Context, r Rounding, iccids []string, from, to time.Time) (map[string][]Usage, error)
}

// Network carries rating's decisions out (provisioning).
type Network interface {
	// SetDataBarring asks the network to bar or unbar the subscription's
	// data, with the notification to send when it is done; it returns
	// the provisioning request's id.
	SetDataBarring(ctx context.Context, s Subscriber, bar bool, reason, notice string) (string, error)
	// SetOutgoingBarring is SetDataBarring for outgoing calls and SMS
	// (emergency calls stay allowed).
	SetOutgoingBarring(ctx context.Context, s Subscriber, bar bool, reason, notice string) (string, error)
	// Notify sends the subscriber a notification; id makes it unique, so
	// the same id is sent once.
	Notify(ctx context.Context, id string, s Subscriber, notice string, data map[string]any) error
}

// LedgerGapError says that metering pruned usage batches rating had not
// rated: rating registers as a ledger reader so that this does not happen,
// unless an operator deleted the registration.
type LedgerGapError struct {
	Cursor  uint64 // the last batch rated
	Through uint64 // every batch up to here is gone from the ledger
}

func (e *LedgerGapError) Error() string {
	return fmt.Sprintf("usage ledger pruned through batch %d, past rating's cursor %d", e.Through, e.Cursor)
}
