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
		RETURNING o.notice, o.attempts`, limit, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claim notices: %w", err)
	}
	var (
		ns       []provisioning.Notice
		body     []byte
		attempts int
	)
	_, err = pgx.ForEachRow(rows, []any{&body, &attempts}, func() error {
		var n provisioning.Notice
		if err := json.Unmarshal(body, &n); err != nil {
			return fmt.Errorf("notice %s: %w", body, err)
		}
		n.Attempts = attempts
		ns = append(ns, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim notices: %w", err)
	}
	return ns, nil
}

// NoticesSent marks the pending notices ids sent.
func (s *Store) NoticesSent(ctx context.Context, ids []string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE notice_outbox SET state = 'sent', updated_at = now()
		WHERE id = ANY($1::text[]) AND state = 'pending'`, ids)
	if err != nil {
		return fmt.Errorf("mark %d notices sent: %w", len(ids), err)
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
