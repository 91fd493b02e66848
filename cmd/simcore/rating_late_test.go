package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
	mch "github.com/simcore/simcore/metering/clickhouse"
	mpg "github.com/simcore/simcore/metering/postgres"
	ppg "github.com/simcore/simcore/provisioning/postgres"
	"github.com/simcore/simcore/rating"
	rch "github.com/simcore/simcore/rating/clickhouse"
	rpg "github.com/simcore/simcore/rating/postgres"
	"github.com/simcore/simcore/rating/rater"
)

// quietNet is a rating.Network that asks nothing of anyone.
type quietNet struct{}

func (quietNet) SetDataBarring(context.Context, rating.Subscriber, bool, string, string) (string, error) {
	return "req", nil
}
func (quietNet) SetOutgoingBarring(context.Context, rating.Subscriber, bool, string, string) (string, error) {
	return "req", nil
}
func (quietNet) Notify(context.Context, string, rating.Subscriber, string, map[string]any) error {
	return nil
}

// TestLateUsageOfEndedLineIsCharged: a line whose end date has passed is
// deactivated (status ended). A record from before its end date that
// arrives late (24-48 h late is normal) is still charged to it, through
// the wiring the binary uses (ratingSubs over provisioning's store). It
// used to find no subscription: rating looked for live ones only.
func TestLateUsageOfEndedLineIsCharged(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	line := newPAYGLine(t, ctx, 31, "Eve", "en", "1.00")
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	// The plan ended today at 00:00 UTC and the deactivation ran.
	if _, err := line.pool.Exec(ctx, "UPDATE subscriptions SET start_date = $2, end_date = $3, status = 'ended' WHERE id = $1",
		line.subID, start, start.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}

	chCfg := mch.Config{Addr: line.env["SIMCORE_CLICKHOUSE_ADDR"], Database: line.env["SIMCORE_CLICKHOUSE_DATABASE"]}
	if _, err := mch.Migrate(ctx, chCfg); err != nil {
		t.Fatal(err)
	}
	conn, err := mch.Open(ctx, chCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := mch.NewWriter(ctx, mch.WriterConfig{Conn: conn, Ledger: mpg.NewLedger(line.pool), MaxAge: 30 * 24 * time.Hour, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	// Yesterday, inside the plan's dates, delivered today: 100 MB in the
	// UK at 0.012 EUR/MB = 1.20 EUR.
	r := metering.Record{Type: metering.TypeData, ICCID: line.iccid, StartTime: start.Add(20 * time.Hour), NodeID: "late", RecordID: "late-1",
		MCCMNC: "23415", BytesUp: 50_000_000, BytesDown: 50_000_000}
	if _, err := w.WriteBatch(ctx, &metering.Batch{Records: []metering.Record{r}}); err != nil {
		t.Fatal(err)
	}
	store := rpg.New(line.pool)
	rt := rater.New(rater.Config{Settle: time.Hour}, store, ratingSubs{ppg.New(line.pool)}, rch.New(conn), quietNet{}, log, nil)
	if _, err := rt.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	bal, err := store.Balance(ctx, line.subID, "EUR")
	if err != nil {
		t.Fatal(err)
	}
	if bal.Minor != -20 {
		t.Fatalf("balance %v after 1.20 EUR of usage before the end date arrived late, want -0.20 EUR (1.00 - 1.20)", bal)
	}
}
