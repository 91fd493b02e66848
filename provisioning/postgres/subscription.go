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

// selectSubscription reads a subscription with everything
// provisioning.Subscription holds, in one statement so the parts agree.
const selectSubscription = `
	SELECT s.id, s.msisdn, s.iccid, m.imsi, s.status, s.start_date, s.end_date,
	       s.voicemail_enabled, s.voicemail_language, s.dates_version,
	       coalesce((SELECT jsonb_object_agg(f.condition, f.number) FROM forwarding f
	                 WHERE f.subscription_id = s.id), '{}'::jsonb),
	       u.id, u.account_id, u.name, u.email, u.language,
	       p.id, p.name, p.apn, p.apn_username, p.apn_password
	FROM subscriptions s
	JOIN subscribers u ON u.id = s.subscriber_id
	JOIN plans p ON p.id = s.plan_id
	JOIN sims m ON m.iccid = s.iccid`

func scanSubscription(row pgx.Row) (provisioning.Subscription, error) {
	var (
		sub provisioning.Subscription
		u   = &sub.Subscriber
		p   = &sub.Plan
	)
	err := row.Scan(&sub.ID, &sub.MSISDN, &sub.ICCID, &sub.IMSI, &sub.Status, &sub.StartDate, &sub.EndDate,
		&sub.Voicemail.Enabled, &sub.Voicemail.Language, &sub.DatesVersion, &sub.Forwarding,
		&u.ID, &u.AccountID, &u.Name, &u.Email, &u.Language,
		&p.ID, &p.Name, &p.APN, &p.APNUsername, &p.APNPassword)
	return sub, err
}

// Subscription returns subscription id with its subscriber, plan (APN
// password included), the IMSI of its SIM, its services and dates version.
// Forwarding is never nil. It returns provisioning.ErrSubscriptionNotFound.
func (s *Store) Subscription(ctx context.Context, id int64) (provisioning.Subscription, error) {
	sub, err := scanSubscription(s.pool.QueryRow(ctx, selectSubscription+` WHERE s.id = $1`, id))
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
		selectSubscription+` WHERE s.msisdn = $1 AND s.status <> 'ended'`, msisdn))
	if errors.Is(err, pgx.ErrNoRows) {
		return provisioning.Subscription{}, fmt.Errorf("subscription of %s: %w", msisdn, provisioning.ErrSubscriptionNotFound)
	}
	if err != nil {
		return provisioning.Subscription{}, fmt.Errorf("subscription of %s: %w", msisdn, err)
	}
	return sub, nil
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
