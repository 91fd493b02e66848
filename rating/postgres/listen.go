package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	mpg "github.com/simcore/simcore/metering/postgres"
)

// Listen sends on wake what the rater should look at: "" when a usage
// batch finished, an ICCID when its balance changed. It holds one
// connection of pool and reconnects after errors until ctx ends. A full
// wake channel drops the notification: the rater polls the ledger anyway,
// and a dropped ICCID is only a later barring decision.
func Listen(ctx context.Context, pool *pgxpool.Pool, wake chan<- string, log *slog.Logger) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := listen(ctx, pool, wake)
		if ctx.Err() != nil {
			return
		}
		log.Warn("rating notifications", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func listen(ctx context.Context, pool *pgxpool.Pool, wake chan<- string) error {
	// A connection of its own: the pool's are for queries, and LISTEN
	// state belongs to the session.
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, ch := range []string{mpg.BatchChannel, BalanceChannel} {
		if _, err := conn.Exec(ctx, `LISTEN "`+ch+`"`); err != nil {
			return err
		}
	}
	// Whatever finished while we were not listening is found by polling.
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		msg := ""
		if n.Channel == BalanceChannel {
			msg = n.Payload
		}
		select {
		case wake <- msg:
		default:
		}
	}
}
