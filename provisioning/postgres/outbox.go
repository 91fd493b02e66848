package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/provisioning"
)

// ClaimNotices returns up to limit pending notices that are due, oldest
// first, and moves each one's due time lease ahead and counts the attempt,
// so no other sender claims it meanwhile (SKIP LOCKED: concurrent claims
// take different notices without waiting). A sender that dies leaves its
// notices to be claimed again when the lease ends.
func (s *Store) ClaimNotices(ctx context.Context, limit int, lease time.Duration) ([]provisioning.Notice, error) {
	if limit <= 0 || limit > maxList {
		limit = maxList
	}
	rows, err := s.pool.Query(ctx, `
		UPDATE notice_outbox o SET attempts = o.attempts + 1, due_at = now() + $2 * interval '1 millisecond', updated_at = now()
		FROM (SELECT id FROM notice_outbox WHERE state = 'pending' AND due_at <= now()
		      ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) c
		WHERE o.id = c.id
		RETURNING o.notice, o.attempts, o.request_id::text`, limit, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claim notices: %w", err)
	}
	var (
		ns       []provisioning.Notice
		body     []byte
		attempts int
		request  string
	)
	_, err = pgx.ForEachRow(rows, []any{&body, &attempts, &request}, func() error {
		var n provisioning.Notice
		if err := json.Unmarshal(body, &n); err != nil {
			return fmt.Errorf("notice %s: %w", body, err)
		}
		n.Attempts, n.RequestID = attempts, request
		ns = append(ns, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim notices: %w", err)
	}
	return ns, nil
}

// NoticesSent marks the pending notices of sent sent and records their SMS
// parts on their requests, in order, as RecordMessages does (a part
// recorded already moves to this notice). One round trip: the two
// statements run as one implicit transaction.
func (s *Store) NoticesSent(ctx context.Context, sent []provisioning.SentNotice) error {
	ids := make([]string, len(sent))
	var msgs, reqs, notices []string
	seen := map[string]bool{}
	for i, n := range sent {
		ids[i] = n.ID
		if n.RequestID == "" || !validUUID(n.RequestID) {
			continue // a notice of its own asked for no receipt
		}
		for _, m := range n.Messages {
			if !seen[m] { // one statement cannot update a row twice
				seen[m] = true
				msgs, reqs, notices = append(msgs, m), append(reqs, n.RequestID), append(notices, n.ID)
			}
		}
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE notice_outbox SET state = 'sent', updated_at = now()
		WHERE id = ANY($1::text[]) AND state = 'pending'`, ids)
	if len(msgs) > 0 {
		b.Queue(`
			INSERT INTO request_messages (message_id, request_id, notice)
			SELECT m, r::uuid, n FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t (m, r, n, k)
			ORDER BY k
			ON CONFLICT (message_id) DO UPDATE
			SET request_id = EXCLUDED.request_id, notice = EXCLUDED.notice, seq = DEFAULT, state = 'SUBMITTED', updated_at = now()
			WHERE (request_messages.request_id, request_messages.notice) <> (EXCLUDED.request_id, EXCLUDED.notice)`,
			msgs, reqs, notices)
	}
	err := s.batch(ctx, b, func(br pgx.BatchResults) error {
		for range b.Len() {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark %d notices sent: %w", len(sent), err)
	}
	return nil
}

// RetryNotice makes pending notice id due again after wait, with why as its
// last error.
func (s *Store) RetryNotice(ctx context.Context, id, why string, wait time.Duration) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE notice_outbox SET due_at = now() + $3 * interval '1 millisecond', last_error = $2, updated_at = now()
		WHERE id = $1 AND state = 'pending'`, id, why, wait.Milliseconds())
	if err != nil {
		return fmt.Errorf("retry notice %s: %w", id, err)
	}
	return nil
}

// FailNotice marks pending notice id failed with why.
func (s *Store) FailNotice(ctx context.Context, id, why string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE notice_outbox SET state = 'failed', last_error = $2, updated_at = now()
		WHERE id = $1 AND state = 'pending'`, id, why)
	if err != nil {
		return fmt.Errorf("fail notice %s: %w", id, err)
	}
	return nil
}
