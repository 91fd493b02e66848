package clickhouse

import (
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
)

// TestRestartRepairsRollupsOfUnresolvedBatch: a two-month insert fails
// after one month's raw part landed and before its views ran (a server
// crash, stood in for by a view that throws), and the writer dies with it
// (the host rebooted, or simcore was restarted while ClickHouse was down)
// before it could resolve the batch, which stays `writing` in the ledger.
// The writer that starts next reads the landed rows back as stored, so it
// must also repair their rollup cells, or usage_hourly and usage_daily stay
// short for ever.
func TestRestartRepairsRollupsOfUnresolvedBatch(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, 2*time.Minute)
	ledger := newMemLedger()
	a := newTestWriter(t, WriterConfig{Conn: conn, Ledger: ledger})
	for _, q := range []string{
		"CREATE TABLE poison_sink (x UInt8) ENGINE = Null",
		"CREATE MATERIALIZED VIEW a_poison_mv TO poison_sink AS SELECT throwIf(iccid = '" + iccid(9) + "') AS x FROM usage_records",
		"DETACH TABLE usage_daily_mv",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Add(-time.Hour)
	var recs []metering.Record
	for i := range 6000 {
		recs = append(recs, rec(i, 100+i%50, now, 1, 1))
		recs = append(recs, rec(6000+i, 9+i%50, now.AddDate(0, -1, 0), 2, 2)) // SIM 9's month fails
	}
	b := batchOf(recs...)
	keys := make([]metering.Key, len(recs))
	stored := make([]bool, len(recs))
	var iccids []string
	for i := range recs {
		keys[i], stored[i] = recs[i].Key(), true
		iccids = append(iccids, recs[i].ICCID)
	}
	// Writer a begins and inserts the batch, then dies before resolving it.
	lease, err := ledger.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	months := []uint32{yyyymm(now), yyyymm(now.AddDate(0, -1, 0))}
	seq, err := lease.Begin(ctx, a.id, months, iccids, len(recs))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.insertRecords(ctx, lease, b, keys, stored, len(recs), seq); err == nil {
		t.Fatal("the poisoned insert succeeded; the test cannot inject the failure")
	}
	_ = lease.Release(ctx)
	for _, q := range []string{"DROP TABLE a_poison_mv", "ATTACH TABLE usage_daily_mv"} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// The restarted process: a new writer on the same ledger and store.
	c := newTestWriter(t, WriterConfig{Conn: conn, Ledger: ledger})
	if _, err := c.WriteBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	s := readSums(t, c)
	if s.rows != 12000 || s.up != 18000 || s.hourlyUp != 18000 || s.dailyUp != 18000 {
		t.Fatalf("usage_records %d rows, %d bytes up; usage_hourly %d, usage_daily %d; want 12000 rows and 18000 bytes up in all three",
			s.rows, s.up, s.hourlyUp, s.dailyUp)
	}
}
