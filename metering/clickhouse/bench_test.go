package clickhouse

import (
	"context"
	"log/slog"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
)

// BenchmarkUsage30DaysByDay measures a 30-day by-day usage query for one
// ICCID, cycling over many ICCIDs, and reports p50 and p99 latency. With
// SIMCORE_BENCH_DATABASE it reads that database (make bench-ingest fills one
// with 2,000,000 records); otherwise it writes 200,000 records of its own.
func BenchmarkUsage30DaysByDay(b *testing.B) {
	ctx := context.Background()
	var r *Reader
	if db := os.Getenv("SIMCORE_BENCH_DATABASE"); db != "" {
		conn, err := Open(ctx, Config{Addr: testenv.ClickHouseAddr(b), Database: db})
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		r = NewReader(conn)
	} else {
		cfg := Config{Addr: testenv.ClickHouseAddr(b), Database: testenv.UniqueName("t_bench_")}
		if _, err := Migrate(ctx, cfg); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = DropDatabase(context.Background(), cfg) })
		conn, err := Open(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		w, err := NewWriter(ctx, WriterConfig{Conn: conn, Ledger: newMemLedger(), MaxAge: 90 * 24 * time.Hour, Log: discardLogger()})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now().Add(-30 * 24 * time.Hour)
		for k := range 4 {
			batch := &metering.Batch{}
			for i := range 50_000 {
				id := k*50_000 + i
				batch.Records = append(batch.Records, rec(id, id%5000, start.Add(time.Duration(id)*12*time.Second), uint64(id), 2*uint64(id)))
				batch.Sources = append(batch.Sources, "bench")
			}
			if _, err := w.WriteBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		r = NewReader(conn)
	}
	var iccids []string
	rows, err := r.conn.Query(ctx, "SELECT DISTINCT iccid FROM usage_daily LIMIT 2000")
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			b.Fatal(err)
		}
		iccids = append(iccids, s)
	}
	rows.Close()
	if len(iccids) == 0 {
		b.Fatal("no ICCIDs in the data")
	}
	to := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	from := to.AddDate(0, 0, -30)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		u, err := r.Usage(ctx, metering.UsageQuery{ICCID: iccids[i%len(iccids)], From: from, To: to, By: metering.GranDay})
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if len(u.Series) == 0 {
			b.Fatalf("no usage for %s", iccids[i%len(iccids)])
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
