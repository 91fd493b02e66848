// Package rater keeps charges, alerts and barring up to date with
// usage: it follows the usage ledger, re-rates the periods a batch touched
// for the ICCIDs it touched, and acts on the thresholds crossed. It wires
// rating's rules to their storage and the network through the interfaces
// in package rating.
package rater

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/rating"
)

// Config tunes a Rater. Zero values take the defaults.
type Config struct {
	// Poll is how often the ledger is read when no notification came
	// (default 1 s): notifications make rating prompt, polling makes it
	// sure.
	Poll time.Duration
	// Settle is how long a batch may stay "writing" before it is rated
	// anyway (default 30 s): its writer died, and what landed is rated.
	Settle time.Duration
	// Recheck is how often barred subscriptions are looked at again, so a
	// new period lifts a barring without new usage (default 1 min).
	Recheck time.Duration
	// Resubmit is how long a barring request may stay unapplied before it
	// is asked for again (default 5 min).
	Resubmit time.Duration
	// Chunk is how many ICCIDs are rated per usage query (default 2000).
	Chunk int
}

func (c *Config) defaults() {
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.Settle <= 0 {
		c.Settle = 30 * time.Second
	}
	if c.Recheck <= 0 {
		c.Recheck = time.Minute
	}
	if c.Resubmit <= 0 {
		c.Resubmit = 5 * time.Minute
	}
	if c.Chunk <= 0 {
		c.Chunk = 2000
	}
}

// Rater rates usage as it arrives.
type Rater struct {
	cfg     Config
	store   rating.Store
	subs    Subscriptions
	usage   rating.UsageSource
	network rating.Network
	log     *slog.Logger
	m       *metrics
	now     func() time.Time
	// waitingSeq is the last batch counted as unrated for want of a
	// catalogue, so each is counted once however often CatchUp polls.
	waitingSeq atomic.Uint64
	// settled holds the batches rated while still being written, watched
	// until they finish (see recheckSettled); mu guards it.
	mu            sync.Mutex
	settled       map[uint64]settledBatch
	settledLoaded bool
}

// settledBatch is a batch rated while still being written, and since when
// it is watched.
type settledBatch struct {
	b     rating.Batch
	since time.Time
}

// settledWatch is how long a batch rated while it was still being written
// is watched for rows landing late: its writer may only have been slow
// (its insert still running), or died with its insert still running on the
// server. Well past the two minutes writers wait for a dead one's inserts.
const settledWatch = 10 * time.Minute

// Subscriptions is what the rater reads of provisioning's subscriptions.
type Subscriptions interface {
	rating.Subscriptions
	// Rated is Live with ended subscriptions too: usage from before an
	// end date may arrive after the line ended, and is still its to pay.
	Rated(ctx context.Context, iccids []string) ([]rating.Subscriber, error)
}

// New returns a rater; reg may be nil.
func New(cfg Config, store rating.Store, subs Subscriptions, usage rating.UsageSource, network rating.Network, log *slog.Logger, reg prometheus.Registerer) *Rater {
	cfg.defaults()
	return &Rater{cfg: cfg, store: store, subs: subs, usage: usage, network: network, log: log, m: newMetrics(reg), now: time.Now}
}

// SetClock replaces the clock (tests of period boundaries).
func (r *Rater) SetClock(now func() time.Time) { r.now = now }

// Run rates until ctx ends. wake carries notifications: "" for a finished
// usage batch, an ICCID for a change of its balance (a credit).
func (r *Rater) Run(ctx context.Context, wake <-chan string) error {
	// A term as leader reads the ledger's batches being written afresh:
	// the leader before may have rated some of them (see recheckSettled).
	r.mu.Lock()
	r.settledLoaded = false
	r.mu.Unlock()
	poll := time.NewTicker(r.cfg.Poll)
	defer poll.Stop()
	recheck := time.NewTicker(r.cfg.Recheck)
	defer recheck.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case iccid := <-wake:
			if iccid == "" {
				_, err = r.CatchUp(ctx)
			} else {
				err = r.Evaluate(ctx, []string{iccid})
			}
		case <-poll.C:
			_, err = r.CatchUp(ctx)
		case <-recheck.C:
			err = r.RecheckBarred(ctx)
		}
		if err != nil && ctx.Err() == nil {
			r.m.errors.Inc()
			r.log.Warn("rating", "err", err)
		}
	}
}

// countWaiting counts the SIMs of the finished batches after the cursor,
// each batch once, as unrated for want of a catalogue (the metric behind
// SimcoreUnratedUsage), without moving the cursor.
func (r *Rater) countWaiting(ctx context.Context) error {
	cursor, err := r.store.Cursor(ctx)
	if err != nil {
		return err
	}
	batches, err := r.store.Batches(ctx, max(cursor, r.waitingSeq.Load()), r.cfg.Settle, 500)
	var gap *rating.LedgerGapError
	if err != nil && !errors.As(err, &gap) {
		return err
	}
	for _, b := range batches {
		r.m.unrated.WithLabelValues("no_catalogue").Add(float64(len(b.ICCIDs)))
		r.waitingSeq.Store(b.Seq)
	}
	return nil
}

// CatchUp rates every finished batch after the cursor and advances it. It
// returns how many batches it rated. Before the first catalogue is
// imported it rates nothing and leaves the cursor, so the usage stored
// meanwhile is rated once there is a tariff.
func (r *Rater) CatchUp(ctx context.Context) (int, error) {
	if _, _, err := r.store.Catalogue(ctx); errors.Is(err, rating.ErrNoCatalogue) {
		return 0, r.countWaiting(ctx)
	} else if err != nil {
		return 0, err
	}
	total := 0
	for {
		cursor, err := r.store.Cursor(ctx)
		if err != nil {
			return total, err
		}
		batches, err := r.store.Batches(ctx, cursor, r.cfg.Settle, 500)
		var gap *rating.LedgerGapError
		if errors.As(err, &gap) {
			// Which ICCIDs those batches changed is lost. Say so loudly,
			// and rate what follows rather than stop rating.
			r.m.errors.Inc()
			r.log.Error("usage batches were pruned before rating read them; their usage is not re-rated until an operator runs simcore rerate over the periods they touched",
				"cursor", gap.Cursor, "pruned_through", gap.Through)
			if err := r.store.SetCursor(ctx, gap.Through); err != nil {
				return total, err
			}
			continue
		}
		if err != nil {
			return total, err
		}
		if len(batches) == 0 {
			return total, r.recheckSettled(ctx, cursor)
		}
		if err := r.rateBatches(ctx, batches); err != nil {
			return total, err
		}
		r.mu.Lock()
		for _, b := range batches {
			if b.Writing {
				if r.settled == nil {
					r.settled = map[uint64]settledBatch{}
				}
				r.settled[b.Seq] = settledBatch{b: b, since: time.Now()}
			}
		}
		r.mu.Unlock()
		last := batches[len(batches)-1].Seq
		if err := r.store.SetCursor(ctx, last); err != nil {
			return total, err
		}
		total += len(batches)
		r.m.batches.Add(float64(len(batches)))
	}
}

// rateBatches rates the ICCIDs of batches over the months they touched.
func (r *Rater) rateBatches(ctx context.Context, batches []rating.Batch) error {
	var iccids []string
	lo, hi := uint32(999999), uint32(0)
	for _, b := range batches {
		iccids = append(iccids, b.ICCIDs...)
		for _, m := range b.Months {
			lo, hi = min(lo, m), max(hi, m)
		}
	}
	slices.Sort(iccids)
	iccids = slices.Compact(iccids)
	if len(iccids) == 0 || hi == 0 {
		return nil
	}
	return r.Rerate(ctx, iccids, monthStart(lo), monthStart(hi).AddDate(0, 1, 0))
}

// recheckSettled rates again the batches that were rated while still being
// written, once they are finished (committed or aborted: whatever was to
// land has landed) or have been watched for settledWatch. Without it, rows
// that land after the rating (a slow insert, or a dead writer's insert
// still running on the server) would be charged only if the same SIM's
// usage in that period were rated again. At the first catch-up of each
// term as leader, the ledger's batches up to the cursor that were still
// being written at their settle time (and still are, or ended since) are
// taken as such: a leader before may have rated them, and died before it
// rated them again. Rating again is harmless: charges are a function of
// the stored usage.
func (r *Rater) recheckSettled(ctx context.Context, cursor uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.settledLoaded {
		bs, err := r.store.Writing(ctx, cursor, r.cfg.Settle, r.cfg.Settle+settledWatch)
		if err != nil {
			return err
		}
		if r.settled == nil {
			r.settled = map[uint64]settledBatch{}
		}
		for _, b := range bs {
			r.settled[b.Seq] = settledBatch{b: b, since: time.Now()}
		}
		r.settledLoaded = true
	}
	if len(r.settled) == 0 {
		return nil
	}
	seqs := make([]uint64, 0, len(r.settled))
	for seq := range r.settled {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	states, err := r.store.BatchStates(ctx, seqs)
	if err != nil {
		return err
	}
	for _, seq := range seqs {
		sb := r.settled[seq]
		if states[seq] == "writing" && time.Since(sb.since) < settledWatch {
			continue
		}
		if err := r.rateBatches(ctx, []rating.Batch{sb.b}); err != nil {
			return err
		}
		delete(r.settled, seq)
		r.log.Info("rated again a usage batch first rated while it was being written", "seq", seq, "state", states[seq])
	}
	return nil
}

func monthStart(yyyymm uint32) time.Time {
	return time.Date(int(yyyymm/100), time.Month(yyyymm%100), 1, 0, 0, 0, 0, time.UTC)
}

// Rerate recomputes the charges of the ICCIDs' periods that overlap
// [from, to), replaces the stored ones, and evaluates thresholds. Running
// it again changes nothing: charges are a function of the stored usage.
func (r *Rater) Rerate(ctx context.Context, iccids []string, from, to time.Time) error {
	if _, _, err := r.store.Catalogue(ctx); err != nil {
		if errors.Is(err, rating.ErrNoCatalogue) {
			r.m.unrated.WithLabelValues("no_catalogue").Add(float64(len(iccids)))
			return nil
		}
		return err
	}
	for chunk := range slices.Chunk(iccids, r.cfg.Chunk) {
		if err := r.rerateChunk(ctx, chunk, from, to); err != nil {
			return err
		}
	}
	return nil
}

func (r *Rater) rerateChunk(ctx context.Context, iccids []string, from, to time.Time) error {
	// The catalogue, subscriptions, usage and the charges replaced are
	// read and written under the rating lock: simcore rerate runs beside
	// the rater, and either one's charges from older usage (or older
	// dates, or a catalogue a tariff fix has replaced) must not replace
	// the other's from newer (TestRaterChunkAfterTariffFixKeepsNewCatalogue).
	unlock, err := r.store.LockRating(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	cat, version, err := r.store.Catalogue(ctx)
	if err != nil {
		return err
	}
	subs, err := r.subs.Rated(ctx, iccids)
	if err != nil {
		return fmt.Errorf("subscriptions: %w", err)
	}
	covered := map[string]bool{}
	for _, s := range subs {
		for _, c := range s.Cards() {
			covered[c] = true
		}
	}
	for _, id := range iccids {
		if !covered[id] {
			r.m.unrated.WithLabelValues("no_subscription").Inc()
		}
	}
	byPlan := map[string][]rating.Subscriber{}
	for _, s := range subs {
		byPlan[s.Plan] = append(byPlan[s.Plan], s)
	}
	for name, group := range byPlan {
		plan, ok := cat.Plan(name)
		if !ok {
			r.m.unrated.WithLabelValues("plan_not_in_catalogue").Add(float64(len(group)))
			r.log.Warn("plan is not in the tariff catalogue: its usage is not rated", "plan", name, "sims", len(group))
			continue
		}
		type job struct {
			sub     rating.Subscriber
			periods []rating.Period
		}
		var jobs []job
		var qFrom, qTo time.Time
		var cards []string
		for _, s := range group {
			ps := plan.PeriodsBetween(s.Start, s.End, from, to)
			if len(ps) == 0 {
				continue
			}
			jobs = append(jobs, job{s, ps})
			cards = append(cards, s.Cards()...)
			if qFrom.IsZero() || ps[0].Start.Before(qFrom) {
				qFrom = ps[0].Start
			}
			if end := ps[len(ps)-1].End; end.After(qTo) {
				qTo = end
			}
		}
		if len(jobs) == 0 {
			continue
		}
		usage, err := r.usage.DailyUsage(ctx, plan.Rounding, cards, qFrom, qTo)
		if err != nil {
			return fmt.Errorf("usage of plan %s: %w", name, err)
		}
		now := r.now()
		sets := make([]rating.ChargeSet, 0, len(jobs))
		current := make(map[int64]*rating.PeriodCharges, len(jobs))
		for _, j := range jobs {
			var used []rating.Usage
			for _, card := range j.sub.Cards() {
				used = append(used, usage[card]...)
			}
			pcs := make([]rating.PeriodCharges, 0, len(j.periods))
			var cur *rating.PeriodCharges
			for _, per := range j.periods {
				pc := cat.Rate(plan, per, used)
				pcs = append(pcs, pc)
				if per.Contains(now) {
					cur = &pcs[len(pcs)-1]
				}
			}
			sets = append(sets, rating.ChargeSet{Sub: j.sub.SubscriptionID, Plan: name, From: j.periods[0].Start, To: j.periods[len(j.periods)-1].End, Periods: pcs})
			current[j.sub.SubscriptionID] = cur
		}
		if err := r.store.ReplaceCharges(ctx, version, sets); err != nil {
			return err
		}
		r.m.rerated.Add(float64(len(sets)))
		subsOfJobs := make([]rating.Subscriber, len(jobs))
		for i, j := range jobs {
			subsOfJobs[i] = j.sub
		}
		if err := r.evaluateGroup(ctx, plan, subsOfJobs, current); err != nil {
			return err
		}
	}
	return nil
}

// Evaluate acts on the thresholds of the ICCIDs' current periods without
// re-rating: after a credit, or to lift a barring in a new period.
func (r *Rater) Evaluate(ctx context.Context, iccids []string) error {
	subs, err := r.subs.Live(ctx, iccids)
	if err != nil {
		return err
	}
	return r.evaluateAll(ctx, subs)
}

// RecheckBarred evaluates every subscription whose data, or outgoing calls
// and SMS, are barred.
func (r *Rater) RecheckBarred(ctx context.Context) error {
	subs, err := r.subs.Barred(ctx)
	if err != nil {
		return err
	}
	return r.evaluateAll(ctx, subs)
}

func (r *Rater) evaluateAll(ctx context.Context, subs []rating.Subscriber) error {
	if len(subs) == 0 {
		return nil
	}
	cat, _, err := r.store.Catalogue(ctx)
	if err != nil {
		if errors.Is(err, rating.ErrNoCatalogue) {
			return nil
		}
		return err
	}
	byPlan := map[string][]rating.Subscriber{}
	for _, s := range subs {
		byPlan[s.Plan] = append(byPlan[s.Plan], s)
	}
	for name, group := range byPlan {
		plan, ok := cat.Plan(name)
		if !ok {
			continue
		}
		for chunk := range slices.Chunk(group, r.cfg.Chunk) {
			if err := r.evaluateGroup(ctx, plan, chunk, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
