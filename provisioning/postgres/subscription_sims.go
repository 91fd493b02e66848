package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/provisioning"
)

// SubscriptionsOnSIMs returns the subscriptions whose SIM is one of iccids,
// ended ones included, newest first: the self-service portal lists a
// user's lines by the cards the user holds. Forwarding is never nil.
func (s *Store) SubscriptionsOnSIMs(ctx context.Context, iccids []string) ([]provisioning.Subscription, error) {
	if len(iccids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, selectSubscription+` WHERE s.iccid = ANY($1) ORDER BY s.id DESC`, iccids)
	if err != nil {
		return nil, fmt.Errorf("subscriptions on sims: %w", err)
	}
	subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (provisioning.Subscription, error) { return scanSubscription(r, true) })
	if err != nil {
		return nil, fmt.Errorf("subscriptions on sims: %w", err)
	}
	return subs, nil
}
