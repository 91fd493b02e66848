package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	chstore "github.com/simcore/simcore/metering/clickhouse"
)

// TestConcurrentMigrations: components started at once (systemd starts
// ingest, portal and rater together, and each migrates) all succeed on
// fresh databases, and each ClickHouse migration is applied once.
// ClickHouse has no transactions or locks; a PostgreSQL advisory lock
// serializes them.
func TestConcurrentMigrations(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	chDB := testenv.UniqueName("t_")
	ch := chstore.Config{Addr: testenv.ClickHouseAddr(t), Database: chDB}
	t.Cleanup(func() { _ = chstore.DropDatabase(context.Background(), ch) })
	env := map[string]string{
		"SIMCORE_POSTGRES_URL":        testenv.Postgres(t, "empty", "0", func(context.Context, string) error { return nil }),
		"SIMCORE_CLICKHOUSE_ADDR":     ch.Addr,
		"SIMCORE_CLICKHOUSE_DATABASE": chDB,
		"SIMCORE_LOG_LEVEL":           "warn",
	}
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errOut, err := runCLI(ctx, env, "migrate")
			if err != nil {
				errs[i] = fmt.Errorf("%w\n%s", err, errOut)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate %d: %v", i, err)
		}
	}
	conn, err := chstore.Open(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var rows, versions uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(version_id) FROM "+chstore.VersionTable+" WHERE version_id > 0").Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	if rows != versions {
		t.Fatalf("%d version rows for %d migrations: some were applied more than once", rows, versions)
	}
}
