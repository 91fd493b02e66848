package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/provisioning"
)

// ICCIDByIMSI returns the ICCID of the card whose IMSI is imsi, whatever
// the card's state: an IMSI belongs to one card for ever (a SIM swap moves
// the subscription to another card, not the IMSI), so usage reported by
// IMSI is the card's. It returns provisioning.ErrSIMNotFound when no card
// in the inventory has imsi.
func (s *Store) ICCIDByIMSI(ctx context.Context, imsi string) (string, error) {
	var iccid string
	err := s.pool.QueryRow(ctx, `SELECT iccid FROM sims WHERE imsi = $1`, imsi).Scan(&iccid)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", provisioning.ErrSIMNotFound
	}
	if err != nil {
		return "", fmt.Errorf("look up iccid by imsi: %w", err)
	}
	return iccid, nil
}
