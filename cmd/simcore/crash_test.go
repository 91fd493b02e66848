package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/internal/testenv"
	chstore "github.com/simcore/simcore/metering/clickhouse"
	mpg "github.com/simcore/simcore/metering/postgres"
)

// buildBinary compiles simcore once per test binary run.
func buildBinary(t testing.TB) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "simcore")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build simcore: %v\n%s", err, out)
	}
	return bin
}

// reference is what the file should leave in the store, computed here with
// encoding/csv and our own checks, independently of simcore's parser.
type reference struct {
	lines, bad int
	rows       int
	up, down   uint64
	perICCID   map[string][3]uint64 // records, up, down
	badAt      map[int]bool         // the bad records, by index from 0
}

func luhnOK(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func computeReference(t *testing.T, data []byte, now time.Time) reference {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	ref := reference{perICCID: map[string][3]uint64{}, badAt: map[int]bool{}}
	seen := map[string]bool{}
	for {
		f, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ref.lines++
		if len(f) != len(header) {
			ref.bad++
			ref.badAt[ref.lines-1] = true
			continue
		}
		iccid := f[col["iccid"]]
		start, terr := time.Parse(time.RFC3339, f[col["start_time"]])
		up, e1 := strconv.ParseUint(f[col["bytes_up"]], 10, 64)
		down, e2 := strconv.ParseUint(f[col["bytes_down"]], 10, 64)
		if terr != nil || e1 != nil || e2 != nil || !luhnOK(iccid) || len(iccid) < 18 || start.After(now.Add(time.Hour)) {
			ref.bad++
			ref.badAt[ref.lines-1] = true
			continue
		}
		id := f[col["node_id"]] + "\x00" + f[col["record_id"]]
		if seen[id] {
			continue
		}
		seen[id] = true
		ref.rows++
		ref.up += up
		ref.down += down
		v := ref.perICCID[iccid]
		ref.perICCID[iccid] = [3]uint64{v[0] + 1, v[1] + up, v[2] + down}
	}
	return ref
}

// splitCSV cuts data, a CSV file with a header row, into n files of about
// as many records each, every one with the header, at record boundaries,
// leaving out the records whose index (from 0) skip holds.
func splitCSV(t *testing.T, data []byte, n int, skip map[int]bool) [][]byte {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	if _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	header := data[:r.InputOffset()]
	var offsets []int64 // after each record
	for {
		if _, err := r.Read(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		offsets = append(offsets, r.InputOffset())
	}
	if len(offsets) == 0 || offsets[len(offsets)-1] != int64(len(data)) {
		t.Fatalf("records end before the %d bytes of the file", len(data))
	}
	var parts [][]byte
	rec := 0
	for i := 1; i <= n; i++ {
		part := bytes.Clone(header)
		for ; rec < len(offsets)*i/n; rec++ {
			from := int64(len(header))
			if rec > 0 {
				from = offsets[rec-1]
			}
			if !skip[rec] {
				part = append(part, data[from:offsets[rec]]...)
			}
		}
		parts = append(parts, part)
	}
	return parts
}

// TestIngestSurvivesSIGKILL kills `simcore ingest` at random moments while it
// ingests a large file, and once right after a batch is stored but before its
// source is acknowledged, restarts it each time, and checks that every total,
// raw and rolled up, equals the reference.
func TestIngestSurvivesSIGKILL(t *testing.T) {
	bin := buildBinary(t)
	chAddr := testenv.ClickHouseAddr(t)
	pgURL := testenv.Postgres(t, "metering", mpg.MigrationsVersion(), mpg.Migrate)
	chCfg := chstore.Config{Addr: chAddr, Database: testenv.UniqueName("t_crash_")}
	t.Cleanup(func() { _ = chstore.DropDatabase(context.Background(), chCfg) })

	now := time.Now().UTC()
	var buf bytes.Buffer
	gst, err := ingest.GenerateCSV(&buf, ingest.GenConfig{
		Records: 300_000, SIMs: 20_000, Seed: time.Now().UnixNano(),
		Start: now.Truncate(24*time.Hour).AddDate(0, 0, -12), Days: 10,
		DupRate: 0.05, BadRate: 0.002, NodeID: "crash-node",
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "usage.csv")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := computeReference(t, buf.Bytes(), now)
	if ref.bad != gst.Bad || ref.lines != gst.Lines {
		t.Fatalf("reference sees %d lines, %d bad; generator wrote %d, %d bad", ref.lines, ref.bad, gst.Lines, gst.Bad)
	}

	env := append(os.Environ(),
		"SIMCORE_CLICKHOUSE_ADDR="+chAddr,
		"SIMCORE_CLICKHOUSE_DATABASE="+chCfg.Database,
		"SIMCORE_POSTGRES_URL="+pgURL,
		"SIMCORE_INGEST_BATCH_SIZE=20000",
		"SIMCORE_LOG_LEVEL=warn",
	)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	t.Logf("kill schedule seed %d", seed)
	ctx := testenv.Context(t, 10*time.Minute)

	// A deterministic crash in the window between store and acknowledgement.
	cmd := exec.CommandContext(ctx, bin, "ingest", file)
	cmd.Env = append(env, "SIMCORE_FAULT_KILL_AFTER_BATCHES=3")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("fault-injected run: want death by SIGKILL, got %v\n%s", err, out)
	}

	// Random kills. Each run gets a part of the file it has not seen, so
	// that every kill can land while new records are being stored, not in
	// a rerun that finds only duplicates (with the whole file each time,
	// most kills after the first landed on reruns of stored data).
	// The parts leave the bad records out: quarantined from a part, a
	// record is another reject (its source and line differ) than from the
	// whole file, and the store must hold each reject of the file once.
	parts := splitCSV(t, buf.Bytes(), 6, ref.badAt)
	kills := 0
	for i, part := range parts {
		partFile := filepath.Join(t.TempDir(), fmt.Sprintf("part-%d.csv", i))
		if err := os.WriteFile(partFile, part, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, bin, "ingest", partFile)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(100+rng.IntN(500)) * time.Millisecond
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("ingest exited early: %v\n%s", err, stderr.String())
			}
			t.Logf("run finished before its kill at %s", delay)
		case <-time.After(delay):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
		}
	}
	t.Logf("killed %d runs", kills)

	// The final run completes.
	cmd = exec.CommandContext(ctx, bin, "ingest", file)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("final ingest: %v\n%s", err, stderr.String())
	}
	var sum ingest.Summary
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("summary line %q: %v", lines[len(lines)-1], err)
	}
	if sum.Read != int64(ref.lines) || sum.Read != sum.Stored+sum.Duplicates+sum.Rejected || sum.Rejected != int64(ref.bad) {
		t.Fatalf("final summary %+v: want read %d = stored + duplicates + rejected, rejected %d", sum, ref.lines, ref.bad)
	}

	checkStore(t, chCfg, ref)
}

func checkStore(t *testing.T, cfg chstore.Config, ref reference) {
	t.Helper()
	ctx := testenv.Context(t, time.Minute)
	conn, err := chstore.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, table := range []string{"usage_records", "usage_hourly", "usage_daily"} {
		countExpr := "count()"
		if table != "usage_records" {
			countExpr = "sum(records)"
		}
		rows, err := conn.Query(ctx, fmt.Sprintf("SELECT iccid, toUInt64(%s), sum(bytes_up), sum(bytes_down) FROM %s GROUP BY iccid", countExpr, table))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][3]uint64{}
		for rows.Next() {
			var (
				iccid string
				v     [3]uint64
			)
			if err := rows.Scan(&iccid, &v[0], &v[1], &v[2]); err != nil {
				t.Fatal(err)
			}
			got[iccid] = v
		}
		rows.Close()
		if len(got) != len(ref.perICCID) {
			t.Errorf("%s: %d ICCIDs, want %d", table, len(got), len(ref.perICCID))
		}
		bad := 0
		for iccid, want := range ref.perICCID {
			if got[iccid] != want {
				if bad++; bad <= 5 {
					t.Errorf("%s: ICCID %s has (records, up, down) %v, want %v", table, iccid, got[iccid], want)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d ICCIDs differ from the reference", table, bad)
		}
	}
	var rejected uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM rejected_records FINAL").Scan(&rejected); err != nil {
		t.Fatal(err)
	}
	if rejected != uint64(ref.bad) {
		t.Errorf("rejected_records holds %d rows, want %d", rejected, ref.bad)
	}
}
