package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/numbering"
	"github.com/simcore/simcore/provisioning"
)

// subscriptionColumns and subscriptionFrom read what
// provisioning.Subscription holds but its forwarding, in one statement so
// the parts agree. selectSubscription adds the forwarding.
const (
	subscriptionColumns = `
	SELECT s.id, s.msisdn, s.iccid, m.imsi, s.status, s.start_date, s.end_date,
	       s.voicemail_enabled, s.voicemail_language, s.dates_version, s.data_barred, s.outgoing_barred,
	       u.id, u.account_id, u.name, u.email, u.language,
	       p.id, p.name, p.apn, p.apn_username, p.apn_password,
	       (SELECT array_agg(h.iccid ORDER BY h.until DESC) FROM subscription_sims h
	        WHERE h.subscription_id = s.id)`
	subscriptionFrom = `
	FROM subscriptions s
	JOIN subscribers u ON u.id = s.subscriber_id
	JOIN plans p ON p.id = s.plan_id
	JOIN sims m ON m.iccid = s.iccid`
	selectSubscription = subscriptionColumns + `,
	       coalesce((SELECT jsonb_object_agg(f.condition, f.number) FROM forwarding f
	                 WHERE f.subscription_id = s.id), '{}'::jsonb)` + subscriptionFrom
	// selectLiveSubscriptions leaves Forwarding nil: its callers (rating)
	// read many subscriptions and need none.
	selectLiveSubscriptions = subscriptionColumns + subscriptionFrom + `
	WHERE s.status <> 'ended'`
	// selectAnySubscriptions is selectLiveSubscriptions with ended ones.
	selectAnySubscriptions = subscriptionColumns + subscriptionFrom + `
	WHERE true`
)

// scanSubscription scans a row of selectSubscription, or with withForwarding
// false one of selectLiveSubscriptions.
func scanSubscription(row pgx.Row, withForwarding bool) (provisioning.Subscription, error) {
	var (
		sub provisioning.Subscription
		u   = &sub.Subscriber
		p   = &sub.Plan
	)
	dst := []any{&sub.ID, &sub.MSISDN, &sub.ICCID, &sub.IMSI, &sub.Status, &sub.StartDate, &sub.EndDate,
		&sub.Voicemail.Enabled, &sub.Voicemail.Language, &sub.DatesVersion, &sub.DataBarred, &sub.OutgoingBarred,
		&u.ID, &u.AccountID, &u.Name, &u.Email, &u.Language,
		&p.ID, &p.Name, &p.APN, &p.APNUsername, &p.APNPassword, &sub.PastICCIDs}
	if withForwarding {
		dst = append(dst, &sub.Forwarding)
	}
	err := row.Scan(dst...)
	return sub, err
}

// Subscription returns subscription id with its subscriber, plan (APN
// password included), the IMSI of its SIM, its services and dates version.
// Forwarding is never nil. It returns provisioning.ErrSubscriptionNotFound.
func (s *Store) Subscription(ctx context.Context, id int64) (provisioning.Subscription, error) {
	sub, err := scanSubscription(s.pool.QueryRow(ctx, selectSubscription+` WHERE s.id = $1`, id), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return provisioning.Subscription{}, fmt.Errorf("subscription %d: %w", id, provisioning.ErrSubscriptionNotFound)
	}
	if err != nil {
		return provisioning.Subscription{}, fmt.Errorf("subscription %d: %w", id, err)
	}
	return sub, nil
}

// SubscriptionByMSISDN returns the subscription that has msisdn and has not
// ended (there is at most one); ended subscriptions are not found, since the
// number may have gone to someone else. It returns
// provisioning.ErrSubscriptionNotFound.
func (s *Store) SubscriptionByMSISDN(ctx context.Context, msisdn string) (provisioning.Subscription, error) {
	sub, err := scanSubscription(s.pool.QueryRow(ctx,
		selectSubscription+` WHERE s.msisdn = $1 AND s.status <> 'ended'`, msisdn), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return provisioning.Subscription{}, fmt.Errorf("subscription of %s: %w", msisdn, provisioning.ErrSubscriptionNotFound)
	}
	if err != nil {
		return provisioning.Subscription{}, fmt.Errorf("subscription of %s: %w", msisdn, err)
	}
	return sub, nil
}

// LiveSubscriptionsByICCID returns the subscription that has not ended on
// each of iccids that has one, with subscriber and plan (as Subscription
// returns them, Forwarding may be left nil). ICCIDs without one are absent.
//
// It is one query whatever the number of ICCIDs: rating resolves a batch of
// usage records at once, and the live-ICCID index answers each.
// Subscriptions come in ICCID order; Forwarding is nil.
func (s *Store) LiveSubscriptionsByICCID(ctx context.Context, iccids []string) ([]provisioning.Subscription, error) {
	if len(iccids) == 0 {
		return nil, nil
	}
	subs, err := s.liveSubscriptions(ctx, ` AND s.iccid = ANY($1) ORDER BY s.iccid`, iccids)
	if err != nil {
		return nil, fmt.Errorf("live subscriptions of %d iccids: %w", len(iccids), err)
	}
	return subs, nil
}

// SubscriptionsUsingICCIDs returns the live subscriptions that are on one
// of iccids now or were before a SIM swap, in id order, with PastICCIDs:
// rating finds with it whose usage a batch of records changed, late
// records from a retired card included.
func (s *Store) SubscriptionsUsingICCIDs(ctx context.Context, iccids []string) ([]provisioning.Subscription, error) {
	if len(iccids) == 0 {
		return nil, nil
	}
	subs, err := s.liveSubscriptions(ctx, ` AND (s.iccid = ANY($1)
		OR s.id IN (SELECT h.subscription_id FROM subscription_sims h WHERE h.iccid = ANY($1))) ORDER BY s.id`, iccids)
	if err != nil {
		return nil, fmt.Errorf("subscriptions using %d iccids: %w", len(iccids), err)
	}
	return subs, nil
}

// BarredSubscriptions returns the subscriptions that have not ended and
// have mobile data barred (bar_data) or outgoing calls and SMS barred
// (bar_outgoing), with subscriber and plan as
// LiveSubscriptionsByICCID returns them, in id order: rating re-checks them
// each period to lift bars that no longer apply.
func (s *Store) BarredSubscriptions(ctx context.Context) ([]provisioning.Subscription, error) {
	subs, err := s.liveSubscriptions(ctx, ` AND (s.data_barred OR s.outgoing_barred) ORDER BY s.id`)
	if err != nil {
		return nil, fmt.Errorf("barred subscriptions: %w", err)
	}
	return subs, nil
}

// SubscriptionsForRating is SubscriptionsUsingICCIDs with ended
// subscriptions too: usage from before a line's end date that arrives after
// it ended (a feed a day or two late) is still the line's to pay. Cards are
// retired when their line ends and never issued again, so an ICCID names
// one subscription at a time.
func (s *Store) SubscriptionsForRating(ctx context.Context, iccids []string) ([]provisioning.Subscription, error) {
	if len(iccids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, selectAnySubscriptions+` AND (s.iccid = ANY($1)
		OR s.id IN (SELECT h.subscription_id FROM subscription_sims h WHERE h.iccid = ANY($1))) ORDER BY s.id`, iccids)
	if err != nil {
		return nil, fmt.Errorf("subscriptions for rating of %d iccids: %w", len(iccids), err)
	}
	subs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (provisioning.Subscription, error) {
		return scanSubscription(row, false)
	})
	if err != nil {
		return nil, fmt.Errorf("subscriptions for rating of %d iccids: %w", len(iccids), err)
	}
	return subs, nil
}

// liveSubscriptions runs selectLiveSubscriptions with more conditions and
// an order appended.
func (s *Store) liveSubscriptions(ctx context.Context, where string, args ...any) ([]provisioning.Subscription, error) {
	rows, err := s.pool.Query(ctx, selectLiveSubscriptions+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (provisioning.Subscription, error) {
		return scanSubscription(row, false)
	})
}

// CreateAccount stores an account and returns its id. An empty name is
// provisioning.ErrInvalid.
func (s *Store) CreateAccount(ctx context.Context, name string) (int64, error) {
	if strings.TrimSpace(name) == "" {
		return 0, fmt.Errorf("create account: %w", invalid("name", "required"))
	}
	var id int64
	if err := s.pool.QueryRow(ctx, `INSERT INTO accounts (name) VALUES ($1) RETURNING id`, name).Scan(&id); err != nil {
		return 0, fmt.Errorf("create account: %w", err)
	}
	return id, nil
}

// DefaultLanguage is a subscriber's language when none is given.
const DefaultLanguage = "en"

// CreateSubscriber stores sub (its ID is ignored) and returns its id. A
// missing name, an email without '@' or an account that does not exist is
// provisioning.ErrInvalid (an *InputError); an empty language is
// DefaultLanguage.
func (s *Store) CreateSubscriber(ctx context.Context, sub provisioning.Subscriber) (int64, error) {
	switch {
	case strings.TrimSpace(sub.Name) == "":
		return 0, fmt.Errorf("create subscriber: %w", invalid("name", "required"))
	case sub.Email != "" && !strings.Contains(sub.Email, "@"):
		return 0, fmt.Errorf("create subscriber: %w", invalid("email", "not an email address"))
	}
	if sub.Language == "" {
		sub.Language = DefaultLanguage
	}
	var id int64
	err := s.pool.QueryRow(ctx, `
		INSERT INTO subscribers (account_id, name, email, language) VALUES ($1, $2, $3, $4)
		RETURNING id`, sub.AccountID, sub.Name, sub.Email, sub.Language).Scan(&id)
	if constraintError(err, codeForeignKeyViolation) != "" {
		return 0, fmt.Errorf("create subscriber: %w", invalid("account_id", fmt.Sprintf("no account %d", sub.AccountID)))
	}
	if err != nil {
		return 0, fmt.Errorf("create subscriber: %w", err)
	}
	return id, nil
}

// CreatePlan stores p, or updates the APN settings of the plan with its name,
// and returns the plan's id (p.ID is ignored). A missing name or APN is
// provisioning.ErrInvalid.
func (s *Store) CreatePlan(ctx context.Context, p provisioning.Plan) (int64, error) {
	switch {
	case strings.TrimSpace(p.Name) == "":
		return 0, fmt.Errorf("create plan: %w", invalid("name", "required"))
	case strings.TrimSpace(p.APN) == "":
		return 0, fmt.Errorf("create plan %s: %w", p.Name, invalid("apn", "required"))
	}
	var id int64
	err := s.pool.QueryRow(ctx, `
		INSERT INTO plans (name, apn, apn_username, apn_password) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE
		SET apn = EXCLUDED.apn, apn_username = EXCLUDED.apn_username, apn_password = EXCLUDED.apn_password
		RETURNING id`, p.Name, p.APN, p.APNUsername, p.APNPassword).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("create plan %s: %w", p.Name, err)
	}
	return id, nil
}

// CreateSubscription puts msisdn on the in-stock SIM iccid (which becomes
// active) for subscriberID under planID, from the UTC day of start: active
// if that day is today or earlier, pending otherwise. Voicemail starts off,
// in the subscriber's language. It does not touch the network.
//
// Errors: provisioning.ErrSIMNotFound, provisioning.ErrSIMNotInStock;
// provisioning.ErrConflict when msisdn is on another subscription that has
// not ended; provisioning.ErrInvalid (an *InputError) for a bad msisdn, a
// zero start, or a subscriber or plan that does not exist.
func (s *Store) CreateSubscription(ctx context.Context, subscriberID, planID int64, msisdn, iccid string, start time.Time) (int64, error) {
	if !numbering.ValidMSISDN(msisdn) {
		return 0, fmt.Errorf("create subscription: %w", invalid("msisdn", "want an E.164 number as digits"))
	}
	if start.IsZero() {
		return 0, fmt.Errorf("create subscription: %w", invalid("start", "required"))
	}
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := takeSIM(ctx, tx, iccid, provisioning.SIMActive, ""); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO subscriptions (subscriber_id, plan_id, msisdn, iccid, status, start_date, voicemail_language)
			SELECT u.id, $2, $3, $4,
			       CASE WHEN $5::date <= (now() AT TIME ZONE 'UTC')::date THEN 'active' ELSE 'pending' END,
			       $5, u.language
			FROM subscribers u WHERE u.id = $1
			RETURNING id`, subscriberID, planID, msisdn, iccid, utcDay(start)).Scan(&id)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return invalid("subscriber_id", fmt.Sprintf("no subscriber %d", subscriberID))
		case constraintError(err, codeForeignKeyViolation) != "":
			return invalid("plan_id", fmt.Sprintf("no plan %d", planID))
		case constraintError(err, codeUniqueViolation) == "subscriptions_msisdn_live":
			return fmt.Errorf("msisdn %s is on a live subscription: %w", msisdn, provisioning.ErrConflict)
		case constraintError(err, codeUniqueViolation) == "subscriptions_iccid_live":
			return fmt.Errorf("sim %s is on a live subscription: %w", iccid, provisioning.ErrSIMNotInStock)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("create subscription: %w", err)
	}
	return id, nil
}

// takeSIM moves the in-stock SIM iccid to state (active, or reserved by the
// request reservedBy); provisioning.ErrSIMNotFound, ErrSIMNotInStock. The
// row lock it takes makes a second taker wait and then find the SIM gone.
func takeSIM(ctx context.Context, q querier, iccid string, state provisioning.SIMState, reservedBy string) error {
	var by any
	if reservedBy != "" {
		by = reservedBy
	}
	tag, err := q.Exec(ctx, `
		UPDATE sims SET state = $2, reserved_by = $3, updated_at = now()
		WHERE iccid = $1 AND state = 'in_stock'`, iccid, state, by)
	if err != nil {
		return fmt.Errorf("take sim %s: %w", iccid, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var cur provisioning.SIMState
	err = q.QueryRow(ctx, `SELECT state FROM sims WHERE iccid = $1`, iccid).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("sim %s: %w", iccid, provisioning.ErrSIMNotFound)
	}
	if err != nil {
		return fmt.Errorf("take sim %s: %w", iccid, err)
	}
	return fmt.Errorf("sim %s is %s: %w", iccid, cur, provisioning.ErrSIMNotInStock)
}
