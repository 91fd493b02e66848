package postgres

import (
	"context"
	"encoding/json"
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

// StartRequest moves request id to in_progress and counts the attempt,
// unless an earlier request of the same subscription that is due (its
// not_before at or before now) is still pending or in progress: then the
// error wraps provisioning.ErrNotReady. Earlier requests scheduled after now
// do not hold it back. A request already in progress (its worker died) is
// started again; a finished one is returned as it is. Starts of one
// subscription's requests are serialised by a lock on the subscription.
// It returns provisioning.ErrRequestNotFound.
func (s *Store) StartRequest(ctx context.Context, id string, now time.Time) (provisioning.Request, error) {
	if !validUUID(id) {
		return provisioning.Request{}, notFound(id)
	}
	var out provisioning.Request
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		subID, _, seq, state, err := lockRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		if !state.Terminal() {
			var earlier string
			err = tx.QueryRow(ctx, `
				SELECT id::text FROM provisioning_requests
				WHERE subscription_id = $1 AND seq < $2 AND state IN ('pending', 'in_progress') AND not_before <= $3
				ORDER BY seq LIMIT 1`, subID, seq, now).Scan(&earlier)
			if err == nil {
				return fmt.Errorf("waits for request %s: %w", earlier, provisioning.ErrNotReady)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("find earlier open requests: %w", err)
			}
			_, err = tx.Exec(ctx, `
				UPDATE provisioning_requests SET state = 'in_progress', attempts = attempts + 1, updated_at = now()
				WHERE id = $1`, id)
			if err != nil {
				return err
			}
		}
		out, err = readRequest(ctx, tx, id, "")
		return err
	})
	if err != nil {
		return provisioning.Request{}, fmt.Errorf("start request %s: %w", id, err)
	}
	return out, nil
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

// Complete marks request id done with outcome and applies ch to its
// subscription in the same transaction. Completing a request that is
// already done changes nothing and returns nil, so a worker that crashed
// between the network and the database can simply retry.
//
// Applying ch: SwapTo activates the new SIM (it must be reserved by this
// request or in stock, else provisioning.ErrSIMNotInStock or
// ErrSIMNotFound), retires the old one and moves the subscription to it;
// Voicemail replaces the settings; Forwarding sets the condition, or removes
// it when Number is ""; Dates sets start and end (UTC days) and bumps the
// dates version; Status sets the status, and ended also retires the
// subscription's SIM (an active SIM is one on a live subscription).
//
// It returns provisioning.ErrRequestNotFound, and an error wrapping
// provisioning.ErrConflict for a request that has failed.
func (s *Store) Complete(ctx context.Context, id string, outcome json.RawMessage, ch provisioning.Change) error {
	if !validUUID(id) {
		return notFound(id)
	}
	var out any
	if len(outcome) > 0 {
		out = outcome
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		subID, iccid, _, state, err := lockRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		switch state {
		case provisioning.StateDone:
			return nil
		case provisioning.StateFailed:
			return fmt.Errorf("request has failed: %w", provisioning.ErrConflict)
		}
		if err := applyChange(ctx, tx, id, subID, iccid, ch); err != nil {
			return err
		}
		for i := range ch.Schedule {
			r := &ch.Schedule[i]
			params := r.Params
			if len(params) == 0 {
				params = json.RawMessage("{}")
			}
			err := tx.QueryRow(ctx, `
				INSERT INTO provisioning_requests (subscription_id, kind, params, requested_by, not_before)
				VALUES ($1, $2, $3, $4, $5)
				RETURNING id::text, created_at, updated_at`,
				r.SubscriptionID, r.Kind, params, r.RequestedBy, r.NotBefore).Scan(&r.ID, &r.CreatedAt, &r.UpdatedAt)
			if err != nil {
				return fmt.Errorf("schedule %s: %w", r.Kind, err)
			}
			r.State = provisioning.StatePending
		}
		_, err = tx.Exec(ctx, `
			UPDATE provisioning_requests SET state = 'done', outcome = $2, updated_at = now()
			WHERE id = $1`, id, out)
		return err
	})
	if err != nil {
		return fmt.Errorf("complete request %s: %w", id, err)
	}
	return nil
}

// applyChange applies ch to subscription subID, now on SIM iccid, for
// request reqID.
func applyChange(ctx context.Context, tx pgx.Tx, reqID string, subID int64, iccid string, ch provisioning.Change) error {
	if ch.SwapTo != nil && ch.SwapTo.ICCID != iccid {
		to := ch.SwapTo.ICCID
		tag, err := tx.Exec(ctx, `
			UPDATE sims SET state = 'active', reserved_by = NULL, updated_at = now()
			WHERE iccid = $1 AND (state = 'in_stock' OR (state = 'reserved' AND reserved_by = $2))`, to, reqID)
		if err != nil {
			return fmt.Errorf("activate sim %s: %w", to, err)
		}
		if tag.RowsAffected() == 0 {
			var st provisioning.SIMState
			err := tx.QueryRow(ctx, `SELECT state FROM sims WHERE iccid = $1`, to).Scan(&st)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("swap to sim %s: %w", to, provisioning.ErrSIMNotFound)
			}
			if err != nil {
				return fmt.Errorf("swap to sim %s: %w", to, err)
			}
			return fmt.Errorf("swap to sim %s, %s and not reserved by this request: %w", to, st, provisioning.ErrSIMNotInStock)
		}
		if _, err := tx.Exec(ctx, `UPDATE sims SET state = 'retired', updated_at = now() WHERE iccid = $1`, iccid); err != nil {
			return fmt.Errorf("retire sim %s: %w", iccid, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE subscriptions SET iccid = $2, updated_at = now() WHERE id = $1`, subID, to); err != nil {
			return fmt.Errorf("move subscription to sim %s: %w", to, err)
		}
		iccid = to
	}
	if v := ch.Voicemail; v != nil {
		_, err := tx.Exec(ctx, `
			UPDATE subscriptions SET voicemail_enabled = $2, voicemail_language = $3, updated_at = now()
			WHERE id = $1`, subID, v.Enabled, v.Language)
		if err != nil {
			return fmt.Errorf("set voicemail: %w", err)
		}
	}
	if f := ch.Forwarding; f != nil {
		var err error
		if f.Number == "" {
			_, err = tx.Exec(ctx, `DELETE FROM forwarding WHERE subscription_id = $1 AND condition = $2`, subID, f.Condition)
		} else {
			_, err = tx.Exec(ctx, `
				INSERT INTO forwarding (subscription_id, condition, number) VALUES ($1, $2, $3)
				ON CONFLICT (subscription_id, condition) DO UPDATE SET number = EXCLUDED.number`,
				subID, f.Condition, f.Number)
		}
		if err != nil {
			return fmt.Errorf("set forwarding %s: %w", f.Condition, err)
		}
	}
	if d := ch.Dates; d != nil {
		var end any
		if d.End != nil {
			end = utcDay(*d.End)
		}
		_, err := tx.Exec(ctx, `
			UPDATE subscriptions
			SET start_date = $2, end_date = $3::date, dates_version = dates_version + 1, updated_at = now()
			WHERE id = $1`, subID, utcDay(d.Start), end)
		if err != nil {
			return fmt.Errorf("set dates: %w", err)
		}
	}
	if ch.Status != "" {
		_, err := tx.Exec(ctx, `UPDATE subscriptions SET status = $2, updated_at = now() WHERE id = $1`, subID, ch.Status)
		if err != nil {
			return fmt.Errorf("set status %s: %w", ch.Status, err)
		}
		if ch.Status == provisioning.StatusEnded {
			_, err := tx.Exec(ctx, `UPDATE sims SET state = 'retired', updated_at = now() WHERE iccid = $1`, iccid)
			if err != nil {
				return fmt.Errorf("retire sim %s: %w", iccid, err)
			}
		}
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
