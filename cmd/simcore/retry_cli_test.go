package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/ingest/ber"
	"github.com/simcore/simcore/internal/testenv"
	chstore "github.com/simcore/simcore/metering/clickhouse"
	mpg "github.com/simcore/simcore/metering/postgres"
)

// summaryOf reads the JSON summary on the last line of an ingest's stdout.
func summaryOf(t *testing.T, out string) ingest.Summary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var s ingest.Summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("summary line %q: %v", lines[len(lines)-1], err)
	}
	if s.Read != s.Stored+s.Duplicates+s.Rejected {
		t.Errorf("summary %+v: read != stored + duplicates + rejected", s)
	}
	return s
}

// TestIngestRetryRejected quarantines BER records of IMSIs missing from
// the inventory, imports the SIMs with `sims import`, and retries with
// `ingest --retry-rejected`: the records are stored, a second retry finds
// nothing to do, and ClickHouse holds exactly the file's usage.
func TestIngestRetryRejected(t *testing.T) {
	chCfg := chstore.Config{Addr: testenv.ClickHouseAddr(t), Database: testenv.UniqueName("t_retry_")}
	t.Cleanup(func() { _ = chstore.DropDatabase(context.Background(), chCfg) })
	env := map[string]string{
		"SIMCORE_CLICKHOUSE_ADDR":     chCfg.Addr,
		"SIMCORE_CLICKHOUSE_DATABASE": chCfg.Database,
		"SIMCORE_POSTGRES_URL":        testenv.Postgres(t, "metering", mpg.MigrationsVersion(), mpg.Migrate),
		"SIMCORE_ACTIVATION_KEY":      "00112233445566778899aabbccddeeff",
		"SIMCORE_LOG_LEVEL":           "warn",
		"SIMCORE_INGEST_BATCH_WAIT":   "50ms",
	}
	dir := t.TempDir()
	ctx := testenv.Context(t, 3*time.Minute)

	// Ten IMSIs; the inventory knows the first four at first.
	imsi := func(i int) string { return fmt.Sprintf("23415%010d", 4200+i) }
	var sims strings.Builder
	sims.WriteString("iccid,imsi,activation_code\n")
	for i := range 4 {
		fmt.Fprintf(&sims, "%s,%s,CODE%04d\n", demoICCID(900+i), imsi(i), i)
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, errOut, err := runCLI(ctx, env, "sims", "import", write("sims1.csv", sims.String())); err != nil {
		t.Fatalf("sims import: %v\n%s", err, errOut)
	}

	const n = 200
	var (
		recs          [][]byte
		up, down, dur uint64
		unknown       int64
	)
	start := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)
	for i := range n {
		seq := uint32(i + 1)
		f := ber.CDRFields{
			IMSI: imsi(i % 10), MCCMNC: "23415", RATType: 6, OpeningTime: start.Add(time.Duration(i) * time.Minute),
			Duration: uint32(10 + i), ChargingID: uint32(9000 + i), Gateway: netip.MustParseAddr("10.4.2.1"),
			NodeID: "pgw-cli", LocalSeq: &seq, Traffic: []ber.Volume{{Up: uint64(1000 + i), Down: uint64(20_000 + 3*i)}},
		}
		recs = append(recs, ber.Encode(f))
		up, down, dur = up+uint64(1000+i), down+uint64(20_000+3*i), dur+uint64(10+i)
		if i%10 >= 4 {
			unknown++
		}
	}
	cdrs := filepath.Join(dir, "feed.ber")
	if err := os.WriteFile(cdrs, ber.EncodeFile(recs...), 0o600); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := runCLI(ctx, env, "ingest", cdrs)
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, errOut)
	}
	if got, want := summaryOf(t, out), (ingest.Summary{Read: n, Stored: n - unknown, Rejected: unknown}); got != want {
		t.Fatalf("ingest summary %+v, want %+v", got, want)
	}

	sims.Reset()
	sims.WriteString("iccid,imsi,activation_code\n")
	for i := 4; i < 10; i++ {
		fmt.Fprintf(&sims, "%s,%s,CODE%04d\n", demoICCID(900+i), imsi(i), i)
	}
	if _, errOut, err := runCLI(ctx, env, "sims", "import", write("sims2.csv", sims.String())); err != nil {
		t.Fatalf("sims import: %v\n%s", err, errOut)
	}
	out, errOut, err = runCLI(ctx, env, "ingest", "--retry-rejected")
	if err != nil {
		t.Fatalf("retry: %v\n%s", err, errOut)
	}
	if got, want := summaryOf(t, out), (ingest.Summary{Read: unknown, Stored: unknown}); got != want {
		t.Fatalf("retry summary %+v, want %+v", got, want)
	}
	out, errOut, err = runCLI(ctx, env, "ingest", "--retry-rejected", "--reason", "unknown_imsi", "--source", "feed.ber")
	if err != nil {
		t.Fatalf("second retry: %v\n%s", err, errOut)
	}
	if got := summaryOf(t, out); got != (ingest.Summary{}) {
		t.Fatalf("second retry summary %+v, want nothing to do", got)
	}
	out, _, err = runCLI(ctx, env, "ingest", cdrs)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if got, want := summaryOf(t, out), (ingest.Summary{Read: n, Duplicates: n}); got != want {
		t.Fatalf("replay summary %+v, want %+v", got, want)
	}

	conn, err := chstore.Open(ctx, chCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var gotN, gotUp, gotDown, gotDur, sims10, hourlyUp uint64
	if err := conn.QueryRow(ctx, "SELECT count(), sum(bytes_up), sum(bytes_down), sum(toUInt64(duration_s)), uniqExact(iccid) FROM usage_records").Scan(&gotN, &gotUp, &gotDown, &gotDur, &sims10); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT sum(bytes_up) FROM usage_hourly").Scan(&hourlyUp); err != nil {
		t.Fatal(err)
	}
	if gotN != n || gotUp != up || gotDown != down || gotDur != dur || sims10 != 10 || hourlyUp != up {
		t.Errorf("stored %d records over %d SIMs, %d up (hourly %d), %d down, %d s; want %d over 10, %d up, %d down, %d s",
			gotN, sims10, gotUp, hourlyUp, gotDown, gotDur, n, up, down, dur)
	}

	for _, args := range [][]string{
		{"ingest", "--retry-rejected", cdrs},
		{"ingest", "--retry-rejected", "--reason", "ber_malformed"},
		{"ingest", "--source", "feed.ber", cdrs},
		{"ingest", "--reason", "start_time_too_old", cdrs},
		{"ingest", "--retry-rejected", "--reason", " , "},
	} {
		if _, _, err := runCLI(ctx, env, args...); !isUsage(err) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
