package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/portal"
)

// ClaimSIM puts iccid on user's account: portal.ErrSIMAlreadyAdded when it
// is there already, portal.ErrActivationFailed when another user has it
// (the caller tells nobody which).
func (s *Store) ClaimSIM(ctx context.Context, user int64, iccid string) error {
	for range 3 {
		tag, err := s.pool.Exec(ctx, `INSERT INTO portal_sims (iccid, user_id) VALUES ($1, $2) ON CONFLICT (iccid) DO NOTHING`, iccid, user)
		if err != nil {
			return fmt.Errorf("claim sim: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var owner int64
		err = s.pool.QueryRow(ctx, `SELECT user_id FROM portal_sims WHERE iccid = $1`, iccid).Scan(&owner)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			continue // released between the two statements: try again
		case err != nil:
			return fmt.Errorf("claim sim: %w", err)
		case owner == user:
			return portal.ErrSIMAlreadyAdded
		default:
			return portal.ErrActivationFailed
		}
	}
	return fmt.Errorf("claim sim: claimed and released repeatedly meanwhile: %w", portal.ErrActivationFailed)
}

// ReleaseSIM takes iccid off user's account; portal.ErrSIMNotOwned when it
// is not on it.
func (s *Store) ReleaseSIM(ctx context.Context, user int64, iccid string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM portal_sims WHERE iccid = $1 AND user_id = $2`, iccid, user)
	if err != nil {
		return fmt.Errorf("release sim: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return portal.ErrSIMNotOwned
	}
	return nil
}

// SIMs lists user's SIMs in the order they were added.
func (s *Store) SIMs(ctx context.Context, user int64) ([]portal.OwnedSIM, error) {
	rows, err := s.pool.Query(ctx, `SELECT iccid, added_at FROM portal_sims WHERE user_id = $1 ORDER BY seq`, user)
	if err != nil {
		return nil, fmt.Errorf("sims of user %d: %w", user, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (portal.OwnedSIM, error) {
		var o portal.OwnedSIM
		return o, r.Scan(&o.ICCID, &o.AddedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("sims of user %d: %w", user, err)
	}
	return out, nil
}

// OwnsSIM reports whether iccid is on user's account.
func (s *Store) OwnsSIM(ctx context.Context, user int64, iccid string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM portal_sims WHERE iccid = $1 AND user_id = $2)`, iccid, user).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("owns sim: %w", err)
	}
	return ok, nil
}
