package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/provisioning"
	ppg "github.com/simcore/simcore/provisioning/postgres"
	"github.com/simcore/simcore/rating"
	rch "github.com/simcore/simcore/rating/clickhouse"
	rpg "github.com/simcore/simcore/rating/postgres"
	"github.com/simcore/simcore/rating/rater"
)

// ratingSubs is provisioning's subscriptions as rating sees them.
type ratingSubs struct{ store *ppg.Store }

var _ rating.Subscriptions = ratingSubs{}

func toSubscriber(s provisioning.Subscription) rating.Subscriber {
	return rating.Subscriber{
		SubscriptionID: s.ID, ICCID: s.ICCID, PastICCIDs: s.PastICCIDs, MSISDN: s.MSISDN, Language: s.Subscriber.Language,
		Plan: s.Plan.Name, Start: s.StartDate, End: s.EndDate, DataBarred: s.DataBarred, OutgoingBarred: s.OutgoingBarred,
		Pending: s.Status == provisioning.StatusPending,
	}
}

func toSubscribers(subs []provisioning.Subscription, err error) ([]rating.Subscriber, error) {
	if err != nil {
		return nil, err
	}
	out := make([]rating.Subscriber, len(subs))
	for i, s := range subs {
		out[i] = toSubscriber(s)
	}
	return out, nil
}

func (r ratingSubs) Live(ctx context.Context, iccids []string) ([]rating.Subscriber, error) {
	return toSubscribers(r.store.SubscriptionsUsingICCIDs(ctx, iccids))
}

func (r ratingSubs) Rated(ctx context.Context, iccids []string) ([]rating.Subscriber, error) {
	return toSubscribers(r.store.SubscriptionsForRating(ctx, iccids))
}

func (r ratingSubs) Barred(ctx context.Context) ([]rating.Subscriber, error) {
	return toSubscribers(r.store.BarredSubscriptions(ctx))
}

// ratingNetwork carries rating's decisions out through provisioning.
type ratingNetwork struct {
	svc   *provisioning.Service
	queue provisioning.Queue
	log   *slog.Logger
}

var _ rating.Network = ratingNetwork{}

func (n ratingNetwork) SetDataBarring(ctx context.Context, s rating.Subscriber, bar bool, reason, notice string) (string, error) {
	kind := provisioning.KindUnbarData
	if bar {
		kind = provisioning.KindBarData
	}
	return n.submitBarring(ctx, s, kind, reason, notice)
}

func (n ratingNetwork) SetOutgoingBarring(ctx context.Context, s rating.Subscriber, bar bool, reason, notice string) (string, error) {
	kind := provisioning.KindUnbarOutgoing
	if bar {
		kind = provisioning.KindBarOutgoing
	}
	return n.submitBarring(ctx, s, kind, reason, notice)
}

func (n ratingNetwork) submitBarring(ctx context.Context, s rating.Subscriber, kind provisioning.Kind, reason, notice string) (string, error) {
	params, _ := json.Marshal(provisioning.BarringParams{Reason: reason, Notice: notice})
	r, err := n.svc.SubmitSystem(ctx, s.SubscriptionID, kind, params, "rating")
	if err != nil && r.ID != "" {
		// Recorded but not queued: the provisioning sweeper queues it.
		n.log.Warn("barring request recorded, not queued yet", "request", r.ID, "err", err)
		return r.ID, nil
	}
	return r.ID, err
}

func (n ratingNetwork) Notify(ctx context.Context, id string, s rating.Subscriber, notice string, data map[string]any) error {
	return n.queue.EnqueueNotice(ctx, provisioning.Notice{ID: id, Channel: "sms", To: s.MSISDN, Language: s.Language, Key: notice, Data: data})
}

// ratingStack is rating wired to PostgreSQL, ClickHouse and provisioning.
type ratingStack struct {
	store    *rpg.Store
	accounts *rating.Accounts
	rater    *rater.Rater
	pool     *pgxpool.Pool
}

// openRating builds rating on prov's pool; with m (ClickHouse) it also
// builds the rater.
func openRating(log *slog.Logger, reg prometheus.Registerer, prov *provStack, m *meteringStack) *ratingStack {
	rs := &ratingStack{store: rpg.New(prov.pool), pool: prov.pool}
	subs := ratingSubs{prov.store}
	rs.accounts = &rating.Accounts{Store: rs.store, Credits: rs.store, Subs: subs}
	if m != nil {
		rs.rater = rater.New(rater.Config{}, rs.store, subs, rch.New(m.ch), ratingNetwork{svc: prov.svc, queue: prov.queue, log: log}, log, reg)
	}
	return rs
}

// run rates usage as it arrives until ctx ends, while this process holds
// the rater lock (one rater rates; others stand by).
func (rs *ratingStack) run(log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		return rpg.WhileLeader(ctx, rs.pool, log, func(ctx context.Context) error {
			wake := make(chan string, 64)
			go rpg.Listen(ctx, rs.pool, wake, log)
			return rs.rater.Run(ctx, wake)
		})
	}
}

// importCatalogue validates the catalogue in path, stores it as the newest
// version, and creates or updates its plans' APN settings in provisioning.
func importCatalogue(ctx context.Context, rs *ratingStack, prov *provStack, path string) (int, *rating.Catalogue, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	cat, err := rating.ParseCatalogue(f)
	if err != nil {
		return 0, nil, err
	}
	return storeCatalogue(ctx, rs, prov, cat, path)
}

func storeCatalogue(ctx context.Context, rs *ratingStack, prov *provStack, cat *rating.Catalogue, source string) (int, *rating.Catalogue, error) {
	cur, curVersion, err := rs.store.Catalogue(ctx)
	if err != nil && !errors.Is(err, rating.ErrNoCatalogue) {
		return 0, nil, err
	}
	if cur != nil {
		// The same catalogue again is the version it already is: a new
		// one would make every charge rated after it name a version that
		// changed nothing.
		if sameCatalogue(cur, cat) {
			return curVersion, cat, nil
		}
		// A plan's balance counts credits in its currency: moving a plan
		// to another would drop every credit its lines paid, and bar them.
		for i, p := range cat.Plans {
			if old, ok := cur.Plan(p.Name); ok && old.Currency() != p.Currency() {
				return 0, nil, fmt.Errorf("%w: plans[%d] (%s): currency %s, but the current catalogue's is %s: its lines' credits in %s would no longer count; give the plan in %s a new name",
					rating.ErrCatalogue, i, p.Name, p.Currency(), old.Currency(), old.Currency(), p.Currency())
			}
		}
	}
	for _, p := range cat.Plans {
		if _, err := prov.store.CreatePlan(ctx, provisioning.Plan{Name: p.Name, APN: p.APN, APNUsername: p.APNUsername, APNPassword: p.APNPassword}); err != nil {
			return 0, nil, fmt.Errorf("plan %s: %w", p.Name, err)
		}
	}
	v, err := rs.store.ImportCatalogue(ctx, cat, source)
	return v, cat, err
}

// ratingError turns rating's errors into the CLI's: input mistakes are
// usage errors (exit 2) with the reason.
func ratingError(err error) error {
	switch {
	case errors.Is(err, rating.ErrInvalid), errors.Is(err, rating.ErrCatalogue), errors.Is(err, rating.ErrCurrency),
		errors.Is(err, rating.ErrIdempotencyKey), errors.Is(err, rating.ErrVoucherExpired), errors.Is(err, rating.ErrVoucherRedeemed),
		errors.Is(err, rating.ErrVoucherNotFound), errors.Is(err, rating.ErrNoPlan), errors.Is(err, rating.ErrNoCatalogue):
		return usagef("%v", err)
	}
	return err
}
