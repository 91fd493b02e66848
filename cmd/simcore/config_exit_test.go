package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	chstore "github.com/simcore/simcore/metering/clickhouse"
	ppg "github.com/simcore/simcore/provisioning/postgres"
)

// TestConfigurationMistakesAreUsageErrors: the systemd units stop
// restarting on exit 2 (RestartPreventExitStatus=2), and
// simcore-migrate.service promises "Exit 2, a mistake in the
// configuration, is not retried". These mistakes in a setting exited 1,
// so systemd restarted the component every 5 s for ever, and the migrate
// unit retried for 15 minutes while every component waited.
func TestConfigurationMistakesAreUsageErrors(t *testing.T) {
	t.Parallel()
	pgURL := testenv.Postgres(t, "provisioning", ppg.MigrationsVersion(), ppg.Migrate)
	chCfg := chstore.Config{Addr: testenv.ClickHouseAddr(t), Database: testenv.UniqueName("t_cfgexit_")}
	t.Cleanup(func() { _ = chstore.DropDatabase(context.Background(), chCfg) })
	redisAddr, redisDB := testenv.RedisDB(t)
	env := func(extra ...string) map[string]string {
		m := map[string]string{
			"SIMCORE_POSTGRES_URL":        pgURL,
			"SIMCORE_CLICKHOUSE_ADDR":     chCfg.Addr,
			"SIMCORE_CLICKHOUSE_DATABASE": chCfg.Database,
			"SIMCORE_REDIS_ADDR":          redisAddr,
			"SIMCORE_REDIS_DB":            strconv.Itoa(redisDB),
			"SIMCORE_OPS_ADDR":            "127.0.0.1:0",
			"SIMCORE_ACTIVATION_KEY":      "00112233445566778899aabbccddeeff",
			"SIMCORE_PORTAL_ADDR":         "127.0.0.1:0",
		}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	spool := t.TempDir()
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"migrate: bad sslmode in SIMCORE_POSTGRES_URL", env("SIMCORE_POSTGRES_URL", pgURL+"&sslmode=bogus"), []string{"migrate"}},
		{"ingest: ledger retention under an hour", env(), []string{"ingest", "--spool", spool, "--ledger-retention", "10m"}},
		{"ingest: max age under an hour", env(), []string{"ingest", "--spool", spool, "--max-age", "10m"}},
		{"ingest: more insert streams than the pool shares", env(), []string{"ingest", "--spool", spool, "--insert-streams", "9"}},
		{"run: no insert stream", env("SIMCORE_INGEST_INSERT_STREAMS", "0"), []string{"run"}},
		{"worker: plaintext SMTP to another host", env(), []string{"worker", "--smtp-addr", "192.0.2.1:25"}},
		{"portal: plaintext SMTP to another host", env(), []string{"portal", "--smtp-addr", "192.0.2.1:25"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testenv.Context(t, 30*time.Second)
			_, errOut, err := runCLI(ctx, tt.env, tt.args...)
			if !isUsage(err) {
				t.Fatalf("err = %v (%T), want a usage error (exit 2)\n%s", err, err, errOut)
			}
		})
	}
}

// TestUnusableSpoolIsAUsageError: a spool directory that cannot be made
// or written (a path through a file, a read-only filesystem, a directory
// the service user may not write) stopped ingest with exit 1 only after
// migrating, loading the dedupe keys and logging "ingest running", and
// systemd then restarted it every 5 s for ever. It is a mistake in the
// configuration: named before any store is opened, exit 2. The stores
// here are unreachable, so a check that comes after opening them fails
// with their error instead.
func TestUnusableSpoolIsAUsageError(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SIMCORE_POSTGRES_URL":    "postgres://simcore@" + freePort(t, "tcp") + "/none?sslmode=disable",
		"SIMCORE_CLICKHOUSE_ADDR": freePort(t, "tcp"),
		"SIMCORE_REDIS_ADDR":      freePort(t, "tcp"),
		"SIMCORE_OPS_ADDR":        "127.0.0.1:0",
		"SIMCORE_ACTIVATION_KEY":  "00112233445566778899aabbccddeeff",
		"SIMCORE_RADIUS_SECRET":   "spool-check-secret",
		"SIMCORE_PORTAL_ADDR":     "",
	}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"ingest: spool is a file", []string{"ingest", "--spool", file}},
		{"ingest: spool under a file", []string{"ingest", "--spool", filepath.Join(file, "spool")}},
		{"ingest: RADIUS log in a file", []string{"ingest", "--spool", file, "--radius-addr", "127.0.0.1:0"}},
		{"ingest: receiver's spool is a file", []string{"ingest", "--store=false", "--spool", file, "--radius-addr", "127.0.0.1:0"}},
		{"run: spool is a file", []string{"run", "--spool", file, "--push-addr", ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testenv.Context(t, 30*time.Second)
			_, errOut, err := runCLI(ctx, env, tt.args...)
			if !isUsage(err) || !strings.Contains(err.Error(), file) {
				t.Fatalf("err = %v (%T), want a usage error (exit 2) naming %s\n%s", err, err, file, errOut)
			}
		})
	}
}
