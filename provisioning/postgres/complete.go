package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/provisioning"
)

// openSub is the subscription of request $1 while that request is open
// (pending or in progress), else NULL. Every statement Complete queues after
// its locks is guarded by it, so a request that is already finished changes
// nothing, without a round trip to look first.
const openSub = `(SELECT subscription_id FROM provisioning_requests WHERE id = $1 AND state IN ('pending', 'in_progress'))`

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
// dates version; DataBarred sets whether mobile data is barred and
// OutgoingBarred whether outgoing calls and SMS are; Status sets
// the status, and ended also retires the subscription's SIM (an active SIM
// is one on a live subscription); Schedule's requests are created.
//
// A change without SwapTo is one round trip: the locks and every statement
// in one pipeline, which PostgreSQL runs as one implicit transaction, shared
// with the completions that arrive meanwhile unless it schedules requests
// (complete_many.go). A SIM swap, whose checks decide whether the rest may
// run, takes a transaction.
// ch.Notices go into the notice outbox in the same transaction.
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
	var err error
	switch {
	case ch.SwapTo != nil:
		err = s.completeSwap(ctx, id, out, ch)
	case grouped(ch):
		err = s.completeGrouped(ctx, id, out, ch)
	default:
		err = s.completeBatch(ctx, id, out, ch)
	}
	if err != nil {
		return fmt.Errorf("complete request %s: %w", id, err)
	}
	return nil
}

// completeBatch completes a request whose change has no SIM swap.
func (s *Store) completeBatch(ctx context.Context, id string, out any, ch provisioning.Change) error {
	b := &pgx.Batch{}
	b.Queue(lockSubscriptionOf, id)
	b.Queue(`SELECT state FROM provisioning_requests WHERE id = $1 FOR NO KEY UPDATE`, id)
	steps, err := queueChange(b, id, out, ch)
	if err != nil {
		return err
	}
	return s.batch(ctx, b, func(br pgx.BatchResults) error {
		var (
			iccid string
			state provisioning.State
		)
		if err := br.QueryRow().Scan(&iccid); errors.Is(err, pgx.ErrNoRows) {
			return notFound(id)
		} else if err != nil {
			return fmt.Errorf("lock subscription: %w", err)
		}
		if err := br.QueryRow().Scan(&state); err != nil {
			return fmt.Errorf("lock request: %w", err)
		}
		for _, step := range steps {
			if err := step(br); err != nil {
				return err
			}
		}
		return finishedState(state)
	})
}

// completeSwap completes a request whose change swaps the SIM.
func (s *Store) completeSwap(ctx context.Context, id string, out any, ch provisioning.Change) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		subID, iccid, _, state, err := lockRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		if state.Terminal() {
			return finishedState(state)
		}
		if ch.SwapTo.ICCID != iccid {
			if err := swapSIM(ctx, tx, id, subID, iccid, ch.SwapTo.ICCID); err != nil {
				return err
			}
		}
		b := &pgx.Batch{}
		steps, err := queueChange(b, id, out, ch)
		if err != nil {
			return err
		}
		return sendBatch(ctx, tx, b, func(br pgx.BatchResults) error {
			for _, step := range steps {
				if err := step(br); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// finishedState is what completing a request in state gives when the
// change was not applied because the request had finished: nil for done
// (a repeated completion), ErrConflict for failed.
func finishedState(state provisioning.State) error {
	if state == provisioning.StateFailed {
		return fmt.Errorf("request has failed: %w", provisioning.ErrConflict)
	}
	return nil
}

// swapSIM moves subscription subID of request reqID from SIM iccid to SIM
// to: to becomes active, iccid retired and remembered as a past SIM.
func swapSIM(ctx context.Context, tx pgx.Tx, reqID string, subID int64, iccid, to string) error {
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
	b := &pgx.Batch{}
	b.Queue(`UPDATE sims SET state = 'retired', updated_at = now() WHERE iccid = $1`, iccid)
	b.Queue(`INSERT INTO subscription_sims (subscription_id, iccid, until) VALUES ($1, $2, now()) ON CONFLICT DO NOTHING`, subID, iccid)
	b.Queue(`UPDATE subscriptions SET iccid = $2, updated_at = now() WHERE id = $1`, subID, to)
	return sendBatch(ctx, tx, b, func(br pgx.BatchResults) error {
		for _, what := range []string{"retire sim " + iccid, "remember sim " + iccid, "move subscription to sim " + to} {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		return nil
	})
}

// step reads the result of one statement queued in a batch.
type step func(pgx.BatchResults) error

// queueChange queues on b the statements that apply ch (but a SIM swap) for
// request id and then mark it done with out, each guarded by openSub, and
// returns the readers of their results in order (an error only for a
// notice JSON cannot hold). It fills in the ID,
// CreatedAt and UpdatedAt of ch.Schedule's requests when they are created.
func queueChange(b *pgx.Batch, id string, out any, ch provisioning.Change) ([]step, error) {
	var steps []step
	exec := func(what, sql string, args ...any) {
		b.Queue(sql, append([]any{id}, args...)...)
		steps = append(steps, func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		})
	}
	if v := ch.Voicemail; v != nil {
		exec("set voicemail", `UPDATE subscriptions SET voicemail_enabled = $2, voicemail_language = $3, updated_at = now()
			WHERE id = `+openSub, v.Enabled, v.Language)
	}
	if f := ch.Forwarding; f != nil {
		if f.Number == "" {
			exec("cancel forwarding "+string(f.Condition), `DELETE FROM forwarding WHERE subscription_id = `+openSub+` AND condition = $2`, f.Condition)
		} else {
			exec("set forwarding "+string(f.Condition), `
				INSERT INTO forwarding (subscription_id, condition, number)
				SELECT subscription_id, $2::text, $3::text FROM provisioning_requests WHERE id = $1 AND state IN ('pending', 'in_progress')
				ON CONFLICT (subscription_id, condition) DO UPDATE SET number = EXCLUDED.number`, f.Condition, f.Number)
		}
	}
	if d := ch.Dates; d != nil {
		var end any
		if d.End != nil {
			end = utcDay(*d.End)
		}
		exec("set dates", `UPDATE subscriptions
			SET start_date = $2, end_date = $3::date, dates_version = dates_version + 1, updated_at = now()
			WHERE id = `+openSub, utcDay(d.Start), end)
	}
	if v := ch.DataBarred; v != nil {
		exec("set data barred", `UPDATE subscriptions SET data_barred = $2, updated_at = now() WHERE id = `+openSub, *v)
	}
	if v := ch.OutgoingBarred; v != nil {
		exec("set outgoing barred", `UPDATE subscriptions SET outgoing_barred = $2, updated_at = now() WHERE id = `+openSub, *v)
	}
	if ch.Status != "" {
		if ch.Status == provisioning.StatusEnded {
			exec("retire sim", `UPDATE sims SET state = 'retired', updated_at = now()
				WHERE iccid = (SELECT iccid FROM subscriptions WHERE id = `+openSub+`)`)
		}
		exec("set status "+string(ch.Status), `UPDATE subscriptions SET status = $2, updated_at = now() WHERE id = `+openSub, ch.Status)
	}
	for i := range ch.Schedule {
		r := &ch.Schedule[i]
		params := r.Params
		if len(params) == 0 {
			params = json.RawMessage("{}")
		}
		b.Queue(`
			INSERT INTO provisioning_requests (subscription_id, kind, params, requested_by, not_before)
			SELECT $2::bigint, $3::text, $4::jsonb, $5::text, $6::timestamptz
			WHERE EXISTS (SELECT 1 FROM provisioning_requests WHERE id = $1 AND state IN ('pending', 'in_progress'))
			RETURNING id::text, created_at, updated_at`,
			id, r.SubscriptionID, r.Kind, params, r.RequestedBy, r.NotBefore)
		steps = append(steps, func(br pgx.BatchResults) error {
			err := br.QueryRow().Scan(&r.ID, &r.CreatedAt, &r.UpdatedAt)
			switch {
			case errors.Is(err, pgx.ErrNoRows): // the request had finished
				return nil
			case err != nil:
				return fmt.Errorf("schedule %s: %w", r.Kind, err)
			}
			r.State = provisioning.StatePending
			return nil
		})
	}
	for _, n := range ch.Notices {
		body, err := json.Marshal(n)
		if err != nil {
			return nil, fmt.Errorf("notice %s: %w", n.ID, err)
		}
		exec("store notice "+n.ID, `
			INSERT INTO notice_outbox (id, request_id, notice)
			SELECT $2::text, $1, $3::jsonb
			WHERE EXISTS (SELECT 1 FROM provisioning_requests WHERE id = $1 AND state IN ('pending', 'in_progress'))
			ON CONFLICT (id) DO NOTHING`, n.ID, body)
	}
	exec("mark done", `UPDATE provisioning_requests SET state = 'done', outcome = $2, updated_at = now()
		WHERE id = $1 AND state IN ('pending', 'in_progress')`, out)
	return steps, nil
}
