package postgres

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/pglisten"
	"github.com/simcore/simcore/portal"
)

// UserChannel is the notification channel on which triggers announce, as
// the payload, the id of a user whose sessions, profile or SIMs changed
// (migration 00002); the notification is delivered when the change
// commits.
const UserChannel = "simcore_portal_users"

var _ UserCache = (*portal.CachedStore)(nil)

// UserCache is what FollowUsers keeps correct (portal.CachedStore).
type UserCache interface {
	ForgetUser(id int64)
	ForgetAll()
	SetLive(live bool)
}

// FollowUsers keeps c in step with changes committed by any process: it
// forgets each user announced on UserChannel, and keeps c live only while
// it listens (a lost connection forgets everything until it listens
// again). It runs until ctx ends, on a connection of pool of its own, and
// returns nil then.
func FollowUsers(ctx context.Context, pool *pgxpool.Pool, c UserCache, log *slog.Logger) error {
	return pglisten.Run(ctx, pglisten.Config{
		Pool:     pool,
		Channels: []string{UserChannel},
		Up: func(context.Context, *pgx.Conn) error {
			c.ForgetAll() // whatever changed while nobody listened
			c.SetLive(true)
			return nil
		},
		Notify: func(_ context.Context, _ *pgx.Conn, n *pgconn.Notification) error {
			id, err := strconv.ParseInt(n.Payload, 10, 64)
			if err != nil {
				c.ForgetAll()
				return nil
			}
			c.ForgetUser(id)
			return nil
		},
		Down: func() { c.SetLive(false) },
		Log:  log,
	})
}
