package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	chstore "github.com/simcore/simcore/metering/clickhouse"
	mpg "github.com/simcore/simcore/metering/postgres"
)

func reviewEnv(t *testing.T) map[string]string {
	chCfg := chstore.Config{Addr: testenv.ClickHouseAddr(t), Database: testenv.UniqueName("t_rev_")}
	t.Cleanup(func() { _ = chstore.DropDatabase(context.Background(), chCfg) })
	return map[string]string{
		"SIMCORE_CLICKHOUSE_ADDR":     chCfg.Addr,
		"SIMCORE_CLICKHOUSE_DATABASE": chCfg.Database,
		"SIMCORE_POSTGRES_URL":        testenv.Postgres(t, "metering", mpg.MigrationsVersion(), mpg.Migrate),
		"SIMCORE_ACTIVATION_KEY":      "00112233445566778899aabbccddeeff",
		"SIMCORE_LOG_LEVEL":           "warn",
		"SIMCORE_INGEST_BATCH_WAIT":   "50ms",
	}
}

// TestUsageJSONSeriesAlwaysPresent: `simcore usage ICCID --by day
// --json` prints a "series" array; over a range without usage it is empty,
// not missing.
func TestUsageJSONSeriesAlwaysPresent(t *testing.T) {
	env := reviewEnv(t)
	ctx := testenv.Context(t, 2*time.Minute)
	if _, errOut, err := runCLI(ctx, env, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut)
	}
	out, errOut, err := runCLI(ctx, env, "usage", "8944100000000000075", "--from", "2024-02-01", "--to", "2024-02-29", "--by", "day", "--json")
	if err != nil {
		t.Fatalf("usage: %v\n%s", err, errOut)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("usage output %q: %v", out, err)
	}
	for _, k := range []string{"iccid", "from", "to", "data", "voice", "sms", "series"} {
		if _, ok := got[k]; !ok {
			t.Errorf("usage --by day --json: no %q in %s", k, out)
		}
	}
	if s := string(got["series"]); s != "" && s != "[]" {
		t.Errorf("series %s, want []", s)
	}
}

// TestBadEnvValueIsAnError: a mistyped duration in the environment
// (SIMCORE_INGEST_MAX_AGE=30d, Go durations have no "d") must stop the
// command with a usage error naming the variable, as the same value given
// as --max-age does; it must not be ignored for the 90-day default.
func TestBadEnvValueIsAnError(t *testing.T) {
	env := reviewEnv(t)
	ctx := testenv.Context(t, 2*time.Minute)
	file := filepath.Join(t.TempDir(), "u.csv")
	header := "record_id,node_id,type,iccid,imsi,msisdn,start_time,duration_s,bytes_up,bytes_down,mcc_mnc,rat,apn,peer_number,sequence,closing_cause\n"
	if err := os.WriteFile(file, []byte(header), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(ctx, env, "ingest", "--max-age", "30d", file); !isUsage(err) {
		t.Fatalf("--max-age 30d: %v, want a usage error", err)
	}
	env["SIMCORE_INGEST_MAX_AGE"] = "30d"
	out, errOut, err := runCLI(ctx, env, "ingest", file)
	if !usageNaming("SIMCORE_INGEST_MAX_AGE")(err) {
		t.Fatalf("SIMCORE_INGEST_MAX_AGE=30d: err %v, want a usage error naming the variable\nstdout %q\nstderr %q", err, out, errOut)
	}
}

// TestGenHugeDaysIsUsageError: a bad --days gives an error, never a panic.
// 2^57 days times 86400 s wraps int64 to 0, and the generator then takes
// a random number modulo 0.
func TestGenHugeDaysIsUsageError(t *testing.T) {
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("gen cdrs --days 144115188075855872 panicked: %v", r)
			}
		}()
		_, _, err = runCLI(context.Background(), nil, "gen", "cdrs", "--records", "1", "--days", "144115188075855872")
	}()
	if !isUsage(err) {
		t.Fatalf("gen cdrs --days 144115188075855872: %v, want a usage error", err)
	}
}
