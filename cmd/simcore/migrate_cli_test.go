package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/internal/testenv"
	chstore "github.com/simcore/simcore/metering/clickhouse"
	ppg "github.com/simcore/simcore/provisioning/postgres"
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

// TestMigrateWarnsOfNewerSchema: a database a newer simcore has migrated
// (an operator rolled the binary back) is used as it is, and the log says
// so, naming the domain; it used to be taken silently.
func TestMigrateWarnsOfNewerSchema(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	chDB := testenv.UniqueName("t_")
	ch := chstore.Config{Addr: testenv.ClickHouseAddr(t), Database: chDB}
	t.Cleanup(func() { _ = chstore.DropDatabase(context.Background(), ch) })
	url := testenv.Postgres(t, "empty", "0", func(context.Context, string) error { return nil })
	env := map[string]string{
		"SIMCORE_POSTGRES_URL":        url,
		"SIMCORE_CLICKHOUSE_ADDR":     ch.Addr,
		"SIMCORE_CLICKHOUSE_DATABASE": chDB,
		"SIMCORE_LOG_LEVEL":           "warn",
	}
	_, errOut, err := runCLI(ctx, env, "migrate")
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut)
	}
	if strings.Contains(errOut, "schema is newer") {
		t.Fatalf("a schema this binary migrated is called newer:\n%s", errOut)
	}

	// What a newer simcore leaves: a version past this binary's newest.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `INSERT INTO `+ppg.VersionTable+` (version_id, is_applied) VALUES ($1, true)`, ppg.LatestMigration()+1); err != nil {
		t.Fatal(err)
	}
	chc, err := chstore.Open(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	defer chc.Close()
	if err := chc.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (version_id, is_applied) SELECT toInt64(%d), toUInt8(1)`, chstore.VersionTable, chstore.LatestMigration()+1)); err != nil {
		t.Fatal(err)
	}

	_, errOut, err = runCLI(ctx, env, "migrate")
	if err != nil {
		t.Fatalf("migrate on a newer schema: %v, want it used as it is\n%s", err, errOut)
	}
	var warned []string
	for _, line := range strings.Split(errOut, "\n") {
		if strings.Contains(line, "schema is newer") {
			warned = append(warned, line)
		}
	}
	if len(warned) != 2 || !strings.Contains(warned[0], "clickhouse") || !strings.Contains(warned[1], "provisioning") {
		t.Fatalf("warnings %q, want one for clickhouse and one for provisioning\n%s", warned, errOut)
	}
}
