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

const requestColumns = `id::text, subscription_id, kind, params, state, attempts, last_error, outcome,
	requested_by, not_before, created_at, updated_at`

func scanRequest(row pgx.Row) (provisioning.Request, error) {
	var r provisioning.Request
	err := row.Scan(&r.ID, &r.SubscriptionID, &r.Kind, &r.Params, &r.State, &r.Attempts, &r.LastError, &r.Outcome,
		&r.RequestedBy, &r.NotBefore, &r.CreatedAt, &r.UpdatedAt)
	return r, err
}

func notFound(id string) error {
	return fmt.Errorf("request %s: %w", id, provisioning.ErrRequestNotFound)
}

// CreateRequest stores r as pending and fills its ID (a UUID made by the
// database), State, NotBefore (now when zero), CreatedAt and UpdatedAt. For
// a SIM swap it reserves the new SIM for r in the same transaction, so of
// two swaps to one card only the first is stored.
//
// Errors: provisioning.ErrSubscriptionNotFound; provisioning.ErrConflict
// for a subscription that has ended; for a swap
// provisioning.ErrSIMNotFound, provisioning.ErrSIMNotInStock;
// provisioning.ErrInvalid for swap parameters without a new ICCID or an
// unknown kind. Other parameters are the caller's to check
// (provisioning.ValidateParams).
func (s *Store) CreateRequest(ctx context.Context, r *provisioning.Request) error {
	var swap provisioning.SIMSwapParams
	if r.Kind == provisioning.KindSIMSwap {
		if err := json.Unmarshal(r.Params, &swap); err != nil {
			return fmt.Errorf("create request: %w", invalid("params", err.Error()))
		}
		if swap.NewICCID == "" {
			return fmt.Errorf("create request: %w", invalid("new_iccid", "required"))
		}
	}
	params := r.Params
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	var notBefore any
	if !r.NotBefore.IsZero() {
		notBefore = r.NotBefore
	}
	var created provisioning.Request
	insert := func(q querier) error {
		// Not on an ended line: nothing can be applied to it (the worker
		// would fail the request; a swap would hold its new card meanwhile).
		err := q.QueryRow(ctx, `
			INSERT INTO provisioning_requests (subscription_id, kind, params, requested_by, not_before)
			SELECT $1, $2, $3, $4, coalesce($5::timestamptz, now())
			WHERE NOT EXISTS (SELECT 1 FROM subscriptions WHERE id = $1 AND status = 'ended')
			RETURNING id::text, not_before, created_at, updated_at`,
			r.SubscriptionID, r.Kind, params, r.RequestedBy, notBefore).
			Scan(&created.ID, &created.NotBefore, &created.CreatedAt, &created.UpdatedAt)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("subscription %d has ended: %w", r.SubscriptionID, provisioning.ErrConflict)
		case constraintError(err, codeForeignKeyViolation) != "":
			return fmt.Errorf("subscription %d: %w", r.SubscriptionID, provisioning.ErrSubscriptionNotFound)
		case constraintError(err, codeCheckViolation) == "provisioning_requests_kind_check":
			return invalid("kind", fmt.Sprintf("unknown kind %q", r.Kind))
		}
		return err
	}
	var err error
	if r.Kind == provisioning.KindSIMSwap {
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			if err := insert(tx); err != nil {
				return err
			}
			return takeSIM(ctx, tx, swap.NewICCID, provisioning.SIMReserved, created.ID)
		})
	} else {
		// One statement needs no transaction of its own: a round trip
		// for BEGIN and one for COMMIT saved on every request.
		err = insert(s.pool)
	}
	if err != nil {
		return fmt.Errorf("create %s request: %w", r.Kind, err)
	}
	r.ID, r.State, r.Attempts, r.LastError, r.Outcome = created.ID, provisioning.StatePending, 0, "", nil
	r.NotBefore, r.CreatedAt, r.UpdatedAt = created.NotBefore, created.CreatedAt, created.UpdatedAt
	return nil
}

// Request returns request id with its messages;
// provisioning.ErrRequestNotFound.
func (s *Store) Request(ctx context.Context, id string) (provisioning.Request, error) {
	if !validUUID(id) {
		return provisioning.Request{}, notFound(id)
	}
	r, err := readRequest(ctx, s.pool, id, "")
	if err != nil {
		return provisioning.Request{}, err
	}
	return r, nil
}

// readRequest reads request id and its messages, with lock ("" or a
// locking clause).
func readRequest(ctx context.Context, q querier, id, lock string) (provisioning.Request, error) {
	r, err := scanRequest(q.QueryRow(ctx, `SELECT `+requestColumns+` FROM provisioning_requests WHERE id = $1 `+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return provisioning.Request{}, notFound(id)
	}
	if err != nil {
		return provisioning.Request{}, fmt.Errorf("request %s: %w", id, err)
	}
	rs := []provisioning.Request{r}
	if err := addMessages(ctx, q, rs); err != nil {
		return provisioning.Request{}, err
	}
	return rs[0], nil
}

// addMessages fills the Messages of rs, each in the order they were sent.
func addMessages(ctx context.Context, q querier, rs []provisioning.Request) error {
	if len(rs) == 0 {
		return nil
	}
	ids := make([]string, len(rs))
	at := make(map[string]int, len(rs))
	for i, r := range rs {
		ids[i], at[r.ID] = r.ID, i
	}
	rows, err := q.Query(ctx, `
		SELECT request_id::text, message_id, state, updated_at, notice FROM request_messages
		WHERE request_id = ANY($1::uuid[]) ORDER BY seq`, ids)
	if err != nil {
		return fmt.Errorf("request messages: %w", err)
	}
	var (
		rid string
		m   provisioning.MessageState
	)
	_, err = pgx.ForEachRow(rows, []any{&rid, &m.MessageID, &m.State, &m.UpdatedAt, &m.Notice}, func() error {
		r := &rs[at[rid]]
		r.Messages = append(r.Messages, m)
		return nil
	})
	if err != nil {
		return fmt.Errorf("request messages: %w", err)
	}
	return nil
}

// maxList bounds ListRequests.
const maxList = 1000

// ListRequests returns the latest requests of subscription subscriptionID,
// newest first, with their messages: at most limit of them (50 when limit
// is 0 or less, never more than 1000). It returns
// provisioning.ErrSubscriptionNotFound.
func (s *Store) ListRequests(ctx context.Context, subscriptionID int64, limit int) ([]provisioning.Request, error) {
	switch {
	case limit <= 0:
		limit = 50
	case limit > maxList:
		limit = maxList
	}
	var out []provisioning.Request
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+requestColumns+` FROM provisioning_requests
			WHERE subscription_id = $1 ORDER BY seq DESC LIMIT $2`, subscriptionID, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (provisioning.Request, error) { return scanRequest(r) })
		if err != nil {
			return err
		}
		if len(out) == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM subscriptions WHERE id = $1)`, subscriptionID).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return provisioning.ErrSubscriptionNotFound
			}
			return nil
		}
		return addMessages(ctx, tx, out)
	})
	if err != nil {
		return nil, fmt.Errorf("list requests of subscription %d: %w", subscriptionID, err)
	}
	return out, nil
}

// RecordMessages notes the SMS parts submitted for request id, in order, as
// SUBMITTED. Recording the same parts again changes nothing; a message id
// already recorded for another request, or for a notice, moves to this one
// (SMSCs reuse ids in time). It returns provisioning.ErrRequestNotFound.
func (s *Store) RecordMessages(ctx context.Context, id string, messageIDs []string) error {
	if !validUUID(id) {
		return notFound(id)
	}
	uniq := make([]string, 0, len(messageIDs))
	seen := make(map[string]bool, len(messageIDs))
	for _, m := range messageIDs {
		if !seen[m] {
			seen[m] = true
			uniq = append(uniq, m)
		}
	}
	if len(uniq) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM provisioning_requests WHERE id = $1)`, id).Scan(&exists); err != nil {
			return fmt.Errorf("record messages of request %s: %w", id, err)
		}
		if !exists {
			return notFound(id)
		}
		return nil
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO request_messages (message_id, request_id)
		SELECT m, $1 FROM unnest($2::text[]) WITH ORDINALITY AS t (m, n) ORDER BY n
		ON CONFLICT (message_id) DO UPDATE
		SET request_id = EXCLUDED.request_id, notice = '', seq = DEFAULT, state = 'SUBMITTED', updated_at = now()
		WHERE (request_messages.request_id, request_messages.notice) <> (EXCLUDED.request_id, '')`, id, uniq)
	if constraintError(err, codeForeignKeyViolation) != "" {
		return notFound(id)
	}
	if err != nil {
		return fmt.Errorf("record messages of request %s: %w", id, err)
	}
	return nil
}

// RecordReceipt sets the state of the submitted part messageID as of at
// (now when zero) and reports whether the part is known; an unknown id is
// (false, nil). Receipts may arrive out of order, so an intermediate state
// (ENROUTE) never replaces a final one (DELIVRD, UNDELIV, ...); the part is
// still reported known.
func (s *Store) RecordReceipt(ctx context.Context, messageID, state string, at time.Time) (bool, error) {
	var when any
	if !at.IsZero() {
		when = at
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE request_messages SET state = $2, updated_at = coalesce($3::timestamptz, now())
		WHERE message_id = $1
		  AND NOT (state NOT IN ('SUBMITTED', 'ENROUTE') AND $2 IN ('SUBMITTED', 'ENROUTE'))`,
		messageID, state, when)
	if err != nil {
		return false, fmt.Errorf("record receipt for message %s: %w", messageID, err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	var known bool
	err = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM request_messages WHERE message_id = $1)`, messageID).Scan(&known)
	if err != nil {
		return false, fmt.Errorf("record receipt for message %s: %w", messageID, err)
	}
	return known, nil
}
