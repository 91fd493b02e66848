package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/rating"
)

// FireAlert records a crossed threshold; true when it is new or its
// message is not sent yet.
func (s *Store) FireAlert(ctx context.Context, sub int64, period time.Time, key, notice string) (bool, error) {
	var sent *time.Time
	err := s.pool.QueryRow(ctx, `
		INSERT INTO rating_alerts (subscription_id, period_start, key, notice) VALUES ($1, $2, $3, $4)
		ON CONFLICT (subscription_id, period_start, key) DO UPDATE SET key = EXCLUDED.key
		RETURNING sent_at`, sub, period, key, notice).Scan(&sent)
	if err != nil {
		return false, fmt.Errorf("fire alert %s: %w", key, err)
	}
	return sent == nil, nil
}

// MarkAlertSent notes that the alert's message is queued.
func (s *Store) MarkAlertSent(ctx context.Context, sub int64, period time.Time, key string) error {
	_, err := s.pool.Exec(ctx, "UPDATE rating_alerts SET sent_at = now() WHERE subscription_id = $1 AND period_start = $2 AND key = $3 AND sent_at IS NULL", sub, period, key)
	if err != nil {
		return fmt.Errorf("mark alert %s sent: %w", key, err)
	}
	return nil
}

// Alert is a fired threshold, for statements and tests.
type Alert struct {
	Period time.Time
	Key    string
	Notice string
	Fired  time.Time
	Sent   *time.Time
}

// Alerts lists the subscription's fired alerts, oldest first.
func (s *Store) Alerts(ctx context.Context, sub int64) ([]Alert, error) {
	rows, err := s.pool.Query(ctx, "SELECT period_start, key, notice, fired_at, sent_at FROM rating_alerts WHERE subscription_id = $1 ORDER BY fired_at, key", sub)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) {
		var a Alert
		err := r.Scan(&a.Period, &a.Key, &a.Notice, &a.Fired, &a.Sent)
		return a, err
	})
}

// AlertsFired returns the alerts of subs in periods from since, and whether
// each one's message was sent.
func (s *Store) AlertsFired(ctx context.Context, subs []int64, since time.Time) (map[rating.FiredKey]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT subscription_id, period_start, key, sent_at IS NOT NULL FROM rating_alerts
		WHERE subscription_id = ANY($1) AND period_start >= $2`, subs, since)
	if err != nil {
		return nil, fmt.Errorf("alerts fired: %w", err)
	}
	defer rows.Close()
	out := map[rating.FiredKey]bool{}
	for rows.Next() {
		var (
			k    rating.FiredKey
			sent bool
		)
		if err := rows.Scan(&k.Sub, &k.Period, &k.Key, &sent); err != nil {
			return nil, err
		}
		k.Period = k.Period.UTC()
		out[k] = sent
	}
	return out, rows.Err()
}

// DataBarrings returns what rating last asked about each of subs' data.
func (s *Store) DataBarrings(ctx context.Context, subs []int64) (map[int64]rating.BarringRequest, error) {
	return s.barrings(ctx, "rating_data_barring", subs)
}

// OutgoingBarrings returns what rating last asked about each of subs'
// outgoing calls and SMS.
func (s *Store) OutgoingBarrings(ctx context.Context, subs []int64) (map[int64]rating.BarringRequest, error) {
	return s.barrings(ctx, "rating_outgoing_barring", subs)
}

// SetDataBarring records a data barring request rating made.
func (s *Store) SetDataBarring(ctx context.Context, sub int64, want bool, requestID string, at time.Time) error {
	return s.setBarring(ctx, "rating_data_barring", sub, want, requestID, at)
}

// SetOutgoingBarring records an outgoing barring request rating made.
func (s *Store) SetOutgoingBarring(ctx context.Context, sub int64, want bool, requestID string, at time.Time) error {
	return s.setBarring(ctx, "rating_outgoing_barring", sub, want, requestID, at)
}

// barrings reads one of the barring tables (a constant, never input).
func (s *Store) barrings(ctx context.Context, table string, subs []int64) (map[int64]rating.BarringRequest, error) {
	rows, err := s.pool.Query(ctx, "SELECT subscription_id, want_barred, requested_at FROM "+table+" WHERE subscription_id = ANY($1)", subs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", table, err)
	}
	defer rows.Close()
	out := map[int64]rating.BarringRequest{}
	for rows.Next() {
		var (
			id int64
			b  rating.BarringRequest
		)
		if err := rows.Scan(&id, &b.Want, &b.At); err != nil {
			return nil, err
		}
		out[id] = b
	}
	return out, rows.Err()
}

// setBarring records a request in one of the barring tables (a constant,
// never input).
func (s *Store) setBarring(ctx context.Context, table string, sub int64, want bool, requestID string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO `+table+` (subscription_id, want_barred, request_id, requested_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (subscription_id) DO UPDATE SET want_barred = EXCLUDED.want_barred, request_id = EXCLUDED.request_id, requested_at = EXCLUDED.requested_at`,
		sub, want, requestID, at)
	if err != nil {
		return fmt.Errorf("record barring in %s: %w", table, err)
	}
	return nil
}
