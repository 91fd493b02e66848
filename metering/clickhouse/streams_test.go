package clickhouse

import (
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
)

// TestAssignStreams: a batch over several months gives each month wholly
// to one stream, balanced by records; a batch of one month is one insert.
func TestAssignStreams(t *testing.T) {
	t.Parallel()
	nov := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	dec, oct := nov.AddDate(0, 1, 0), nov.AddDate(0, -1, 0)
	batch := func(parts ...struct {
		at time.Time
		n  int
	}) (*metering.Batch, []bool) {
		var recs []metering.Record
		for _, p := range parts {
			for range p.n {
				recs = append(recs, rec(len(recs), len(recs)%97, p.at, 1, 1))
			}
		}
		stored := make([]bool, len(recs))
		for i := range stored {
			stored[i] = true
		}
		return batchOf(recs...), stored
	}
	type part = struct {
		at time.Time
		n  int
	}
	// counts[stream][yyyymm] = records.
	spread := func(b *metering.Batch, of []int, stored []bool, used int) []map[uint32]int {
		counts := make([]map[uint32]int, used)
		for i := range counts {
			counts[i] = map[uint32]int{}
		}
		for i, r := range b.Records {
			if stored[i] {
				counts[of[i]][yyyymm(r.StartTime)]++
			}
		}
		return counts
	}

	t.Run("one month: one insert", func(t *testing.T) {
		b, stored := batch(part{nov, 1000})
		of, used := assignStreams(b, stored, 2)
		if c := spread(b, of, stored, used); used != 1 || c[0][202611] != 1000 {
			t.Errorf("used %d streams, records %v; want one with all", used, c)
		}
	})
	t.Run("two months: one stream each", func(t *testing.T) {
		b, stored := batch(part{nov, 700}, part{dec, 300})
		of, used := assignStreams(b, stored, 2)
		c := spread(b, of, stored, used)
		if used != 2 || len(c[0]) != 1 || len(c[1]) != 1 || c[0][202611] != 700 || c[1][202612] != 300 {
			t.Errorf("used %d streams, records %v; want November's 700 in one, December's 300 in the other", used, c)
		}
	})
	t.Run("three months on two streams: balanced", func(t *testing.T) {
		b, stored := batch(part{oct, 200}, part{nov, 500}, part{dec, 300})
		of, used := assignStreams(b, stored, 2)
		c := spread(b, of, stored, used)
		if used != 2 || c[0][202611] != 500 || c[1][202612] != 300 || c[1][202610] != 200 {
			t.Errorf("used %d streams, records %v; want November alone, October with December", used, c)
		}
	})
	t.Run("more streams than months", func(t *testing.T) {
		b, stored := batch(part{nov, 600}, part{dec, 400})
		of, used := assignStreams(b, stored, 3)
		if c := spread(b, of, stored, used); used != 2 || len(c[0]) != 1 || len(c[1]) != 1 {
			t.Errorf("used %d streams, records %v; want 2, a month each", used, c)
		}
	})
	t.Run("duplicates do not count", func(t *testing.T) {
		b, stored := batch(part{nov, 500}, part{dec, 500})
		for i := range b.Records {
			if yyyymm(b.Records[i].StartTime) == 202612 {
				stored[i] = false // all of December is known already
			}
		}
		of, used := assignStreams(b, stored, 2)
		if c := spread(b, of, stored, used); used != 1 || c[0][202611] != 500 {
			t.Errorf("used %d streams, records %v; want one with November's 500", used, c)
		}
	})
}

// TestTwoMonthBatchWithOneStreamFailing: a batch over two months is two
// inserts, one per month. When one fails (a view throws, after its raw
// part landed) and the other lands, the retry stores each record once and
// the rollups add up, in both months; the parts are one per month.
func TestTwoMonthBatchWithOneStreamFailing(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, 2*time.Minute)
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger()})
	for _, q := range []string{
		"CREATE TABLE poison_sink (x UInt8) ENGINE = Null",
		"CREATE MATERIALIZED VIEW a_poison_mv TO poison_sink AS SELECT throwIf(iccid = '" + iccid(9) + "') AS x FROM usage_records",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Add(-time.Hour)
	var recs []metering.Record
	for i := range 6000 {
		recs = append(recs, rec(i, 100+i%50, now, 1, 1))                      // this month
		recs = append(recs, rec(6000+i, 9+i%50, now.AddDate(0, -1, 0), 2, 2)) // last month, SIM 9 among them
	}
	b := batchOf(recs...)
	if _, err := w.WriteBatch(ctx, b); err == nil {
		t.Fatal("the poisoned insert succeeded; the test cannot inject the failure")
	}
	if err := conn.Exec(ctx, "DROP TABLE a_poison_mv"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	s := readSums(t, w)
	if s.rows != 12000 || s.up != 18000 || s.hourlyUp != 18000 || s.dailyUp != 18000 {
		t.Fatalf("usage_records %d rows, %d bytes up; usage_hourly %d, usage_daily %d; want 12000 rows and 18000 bytes up in all three",
			s.rows, s.up, s.hourlyUp, s.dailyUp)
	}
	var parts uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = 'usage_records' AND active").Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts != 2 {
		t.Errorf("usage_records has %d parts, want 2 (one per month)", parts)
	}
}
