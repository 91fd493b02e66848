package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/provisioning"
)

// lockRequest locks the subscription of request id and then the request
// (the package's lock order), returning the subscription's id, its SIM, and
// the request's seq and state.
func lockRequest(ctx context.Context, tx pgx.Tx, id string) (subID int64, iccid string, seq int64, state provisioning.State, err error) {
	err = tx.QueryRow(ctx, `SELECT subscription_id FROM provisioning_requests WHERE id = $1`, id).Scan(&subID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", 0, "", notFound(id)
	}
	if err != nil {
		return 0, "", 0, "", fmt.Errorf("request %s: %w", id, err)
	}
	// NO KEY UPDATE: starts and completions of one subscription's requests
	// queue up here, while new requests (whose foreign key takes KEY SHARE)
	// can still be stored.
	err = tx.QueryRow(ctx, `SELECT iccid FROM subscriptions WHERE id = $1 FOR NO KEY UPDATE`, subID).Scan(&iccid)
	if err != nil {
		return 0, "", 0, "", fmt.Errorf("lock subscription %d: %w", subID, err)
	}
	// NO KEY UPDATE again, so recording a request's messages (a foreign key
	// to it) does not wait for its start or completion.
	err = tx.QueryRow(ctx, `SELECT seq, state FROM provisioning_requests WHERE id = $1 FOR NO KEY UPDATE`, id).Scan(&seq, &state)
	if err != nil {
		return 0, "", 0, "", fmt.Errorf("lock request %s: %w", id, err)
	}
	return subID, iccid, seq, state, nil
}

// startRequest locks request $1 (its subscription is locked first, by
// lockSubscriptionOf) and moves it to in_progress, counting the attempt,
// when it is open, no earlier request of its subscription due by $2 is, and
// no other request of it is in progress (a scheduled request that falls due
// while a later one is being applied waits for it: one change in flight per
// line): one statement instead of a read, a check and an update. It returns the
// earlier request's id (NULL when none holds it back) and the request as it
// now is. The locked row is carried through r, so a row changed while this
// statement waited for its lock is returned as changed.
const startRequest = `
	WITH r AS (
		SELECT * FROM provisioning_requests WHERE id = $1 FOR NO KEY UPDATE
	), earlier AS (
		SELECT e.id FROM r JOIN provisioning_requests e ON e.subscription_id = r.subscription_id AND e.id <> r.id
		WHERE r.state IN ('pending', 'in_progress')
		  AND ((e.seq < r.seq AND e.state IN ('pending', 'in_progress') AND e.not_before <= $2) OR e.state = 'in_progress')
		ORDER BY e.seq LIMIT 1
	), started AS (
		UPDATE provisioning_requests p SET state = 'in_progress', attempts = p.attempts + 1, updated_at = now()
		FROM r WHERE p.id = r.id AND r.state IN ('pending', 'in_progress') AND NOT EXISTS (SELECT 1 FROM earlier)
		RETURNING p.*
	)
	SELECT (SELECT id::text FROM earlier), ` + requestColumns + ` FROM started
	UNION ALL
	SELECT (SELECT id::text FROM earlier), ` + requestColumns + ` FROM r WHERE NOT EXISTS (SELECT 1 FROM started)`

// lockSubscriptionOf locks the subscription of request $1 and returns its
// SIM; no row when there is no such request.
const lockSubscriptionOf = `
	SELECT iccid FROM subscriptions
	WHERE id = (SELECT subscription_id FROM provisioning_requests WHERE id = $1)
	FOR NO KEY UPDATE`

// StartRequest moves request id to in_progress and counts the attempt,
// unless an earlier request of the same subscription that is due (its
// not_before at or before now) is still pending or in progress, or any
// other request of it is in progress: then the error wraps
// provisioning.ErrNotReady. Earlier requests scheduled after now do not hold
// it back. A request already in progress (its worker died) is
// started again; a finished one is returned as it is. Starts of one
// subscription's requests are serialised by a lock on the subscription.
//
// It also returns the subscription as Subscription does, read under that
// lock after the start, so it is what the request applies to. The request
// comes without its messages. Lock, start and read are one round trip: a
// pipeline of three statements that PostgreSQL runs as one implicit
// transaction. It returns provisioning.ErrRequestNotFound.
func (s *Store) StartRequest(ctx context.Context, id string, now time.Time) (provisioning.Request, provisioning.Subscription, error) {
	if !validUUID(id) {
		return provisioning.Request{}, provisioning.Subscription{}, notFound(id)
	}
	b := &pgx.Batch{}
	b.Queue(lockSubscriptionOf, id)
	b.Queue(startRequest, id, now)
	b.Queue(selectSubscription+` WHERE s.id = (SELECT subscription_id FROM provisioning_requests WHERE id = $1)`, id)
	var (
		r       provisioning.Request
		sub     provisioning.Subscription
		earlier *string
	)
	err := s.batch(ctx, b, func(br pgx.BatchResults) error {
		var iccid string
		if err := br.QueryRow().Scan(&iccid); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return notFound(id)
			}
			return fmt.Errorf("lock subscription: %w", err)
		}
		err := br.QueryRow().Scan(&earlier, &r.ID, &r.SubscriptionID, &r.Kind, &r.Params, &r.State, &r.Attempts, &r.LastError,
			&r.Outcome, &r.RequestedBy, &r.NotBefore, &r.CreatedAt, &r.UpdatedAt)
		if err != nil {
			return err
		}
		if sub, err = scanSubscription(br.QueryRow(), true); err != nil {
			return fmt.Errorf("subscription %d: %w", r.SubscriptionID, err)
		}
		return nil
	})
	if err == nil && earlier != nil {
		err = &provisioning.WaitError{For: *earlier}
	}
	if err != nil {
		return provisioning.Request{}, provisioning.Subscription{}, fmt.Errorf("start request %s: %w", id, err)
	}
	return r, sub, nil
}

// RetryLater puts request id, in progress, back to pending with why as its
// last error. A pending request only gets why; a finished one is left as it
// is. It returns provisioning.ErrRequestNotFound.
func (s *Store) RetryLater(ctx context.Context, id, why string) error {
	if !validUUID(id) {
		return notFound(id)
	}
	var state provisioning.State
	err := s.pool.QueryRow(ctx, `
		WITH r AS (SELECT id, state FROM provisioning_requests WHERE id = $1 FOR NO KEY UPDATE),
		     u AS (UPDATE provisioning_requests p SET state = 'pending', last_error = $2, updated_at = now()
		           FROM r WHERE p.id = r.id AND r.state IN ('pending', 'in_progress'))
		SELECT state FROM r`, id, why).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(id)
	}
	if err != nil {
		return fmt.Errorf("retry request %s later: %w", id, err)
	}
	return nil
}

// Fail marks request id failed with why and puts a SIM it reserved back in
// stock. Failing a failed request changes nothing. It returns
// provisioning.ErrRequestNotFound, and an error wrapping
// provisioning.ErrConflict for a request that is done (its change is
// applied).
func (s *Store) Fail(ctx context.Context, id, why string) error {
	if !validUUID(id) {
		return notFound(id)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, _, _, state, err := lockRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		switch state {
		case provisioning.StateFailed:
			return nil
		case provisioning.StateDone:
			return fmt.Errorf("request is done: %w", provisioning.ErrConflict)
		}
		_, err = tx.Exec(ctx, `
			UPDATE provisioning_requests SET state = 'failed', last_error = $2, updated_at = now()
			WHERE id = $1`, id, why)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			UPDATE sims SET state = 'in_stock', reserved_by = NULL, updated_at = now()
			WHERE reserved_by = $1 AND state = 'reserved'`, id)
		if err != nil {
			return fmt.Errorf("release reserved sim: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fail request %s: %w", id, err)
	}
	return nil
}
