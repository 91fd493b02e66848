package ingest_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/internal/testenv"
)

// writeSettled writes a spool file as if it had been there for a minute.
func writeSettled(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// dirNames lists a directory's file names, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

func readSummary(t *testing.T, path string) ingest.Summary {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s ingest.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

func TestSpoolScanOnce(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, ingest.Config{}, nil)
	ctx := testenv.Context(t, 2*time.Minute)
	dir := t.TempDir()
	// Settled files are written a minute old; fresh.ndjson must still be
	// unsettled when ScanOnce looks at it, however long writing the other
	// files and getting to the scan takes on a busy machine.
	sp := &ingest.Spool{Dir: dir, Pipeline: env.p, Log: env.log, Interval: 10 * time.Millisecond, Settle: 30 * time.Second}

	csvFeed := genFeed(t, 11, 1500, "spool-csv")
	jsonFeed := genFeed(t, 12, 1500, "spool-json").ndjson(t)
	const badHeader = "node_id,type,iccid,start_time\nn,data,89441000000000000018,2024-01-01T00:00:00Z\n"
	files := map[string]string{
		"a.csv":        csvFeed.text,
		"b.ndjson":     jsonFeed.text,
		"c.xml":        "<usage/>\n",
		"d.csv":        badHeader,
		".hidden.csv":  csvFeed.text,
		"e.csv.part":   csvFeed.text,
		"upload.tmp":   csvFeed.text,
		"subdir/x.csv": csvFeed.text, // in a subdirectory: not the spool's
		"fresh.ndjson": "",           // written below, unsettled
		"empty.ndjson": "",           // settled, no records: done with a zero summary
		"header.csv":   ingest.GenHeader + "\n",
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		switch name {
		case "fresh.ndjson":
			// Still being written: changed just now.
			if err := os.WriteFile(path, []byte(jsonFeed.text), 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			writeSettled(t, path, content)
		}
	}

	n, err := sp.ScanOnce(ctx)
	if err != nil {
		t.Fatalf("ScanOnce: %v", err)
	}
	if n != 6 {
		t.Errorf("ScanOnce handled %d files, want 6", n)
	}
	wantLeft := []string{".hidden.csv", "done", "e.csv.part", "fresh.ndjson", "rejected", "subdir", "upload.tmp"}
	if diff := cmp.Diff(wantLeft, dirNames(t, dir)); diff != "" {
		t.Errorf("spool directory after the scan (-want +got):\n%s", diff)
	}
	for _, name := range []string{".hidden.csv", "e.csv.part", "upload.tmp"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != csvFeed.text {
			t.Errorf("%s was touched: err %v, %d bytes", name, err, len(b))
		}
	}
	wantDone := []string{"a.csv", "a.csv.summary.json", "b.ndjson", "b.ndjson.summary.json", "empty.ndjson", "empty.ndjson.summary.json", "header.csv", "header.csv.summary.json"}
	if diff := cmp.Diff(wantDone, dirNames(t, filepath.Join(dir, "done"))); diff != "" {
		t.Errorf("done/ (-want +got):\n%s", diff)
	}
	for name, want := range map[string]ingest.Summary{
		"a.csv": csvFeed.want(), "b.ndjson": jsonFeed.want(), "empty.ndjson": {}, "header.csv": {},
	} {
		if diff := cmp.Diff(want, readSummary(t, filepath.Join(dir, "done", name+".summary.json"))); diff != "" {
			t.Errorf("done/%s.summary.json (-want +got):\n%s", name, diff)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "done", "a.csv")); err != nil || string(b) != csvFeed.text {
		t.Errorf("done/a.csv is not the file dropped: err %v", err)
	}
	wantRejected := []string{"c.xml", "c.xml.reason.txt", "d.csv", "d.csv.reason.txt"}
	if diff := cmp.Diff(wantRejected, dirNames(t, filepath.Join(dir, "rejected"))); diff != "" {
		t.Errorf("rejected/ (-want +got):\n%s", diff)
	}
	for name, want := range map[string]string{"c.xml": "unknown format", "d.csv": `"record_id"`} {
		b, err := os.ReadFile(filepath.Join(dir, "rejected", name+".reason.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("rejected/%s.reason.txt = %q, want it to mention %s", name, b, want)
		}
	}
	if diff := cmp.Diff(wantTotals(t, csvFeed, jsonFeed), env.totals(t)); diff != "" {
		t.Errorf("stored totals (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(csvFeed.wantRejects(ingest.FormatCSV), env.rejects(t, "a.csv")); diff != "" {
		t.Errorf("rejected_records of a.csv (-want +got):\n%s", diff)
	}

	// a.csv dropped again after it was done, and fresh.ndjson now settled
	// (it holds b.ndjson's records under another name).
	writeSettled(t, filepath.Join(dir, "a.csv"), csvFeed.text)
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "fresh.ndjson"), old, old); err != nil {
		t.Fatal(err)
	}
	if n, err := sp.ScanOnce(ctx); err != nil || n != 2 {
		t.Fatalf("second ScanOnce = %d, %v; want 2 files", n, err)
	}
	var redone []string
	for _, name := range dirNames(t, filepath.Join(dir, "done")) {
		if strings.HasPrefix(name, "a.csv.") && !strings.HasSuffix(name, ".summary.json") {
			redone = append(redone, name)
		}
	}
	if len(redone) != 1 {
		t.Fatalf("done/ holds %v for the second a.csv, want one file beside the first", redone)
	}
	if diff := cmp.Diff(csvFeed.again(), readSummary(t, filepath.Join(dir, "done", redone[0]+".summary.json"))); diff != "" {
		t.Errorf("summary of a.csv dropped again (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(jsonFeed.again(), readSummary(t, filepath.Join(dir, "done", "fresh.ndjson.summary.json"))); diff != "" {
		t.Errorf("summary of fresh.ndjson (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantTotals(t, csvFeed, jsonFeed), env.totals(t)); diff != "" {
		t.Errorf("stored totals after the second scan (-want +got):\n%s", diff)
	}
}

func TestSpoolRun(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, ingest.Config{}, nil)
	dir := t.TempDir()
	sp := &ingest.Spool{Dir: dir, Pipeline: env.p, Log: env.log, Interval: 10 * time.Millisecond, Settle: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- sp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("Spool.Run: %v", err)
		}
	})

	// A writer creates the file under a temporary name and renames it.
	f := genFeed(t, 13, 800, "spool-run")
	tmp := filepath.Join(dir, ".usage.csv.part")
	if err := os.WriteFile(tmp, []byte(f.text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "usage.csv")); err != nil {
		t.Fatal(err)
	}
	summary := filepath.Join(dir, "done", "usage.csv.summary.json")
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(summary); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within a minute; spool holds %v", summary, dirNames(t, dir))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The summary is written just before the file is moved.
	for _, err := os.Stat(filepath.Join(dir, "done", "usage.csv")); err != nil; _, err = os.Stat(filepath.Join(dir, "done", "usage.csv")) {
		if time.Now().After(deadline) {
			t.Fatalf("done/usage.csv: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if diff := cmp.Diff(f.want(), readSummary(t, summary)); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantTotals(t, f), env.totals(t)); diff != "" {
		t.Errorf("stored totals (-want +got):\n%s", diff)
	}
}

func TestSpoolKeepsFilesWhenPipelineStopped(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, ingest.Config{}, nil)
	if err := env.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	dir := t.TempDir()
	sp := &ingest.Spool{Dir: dir, Pipeline: env.p, Log: env.log, Interval: 10 * time.Millisecond, Settle: 10 * time.Millisecond}
	f := genFeed(t, 14, 300, "spool-stopped")
	writeSettled(t, filepath.Join(dir, "late.csv"), f.text)
	if _, err := sp.ScanOnce(testenv.Context(t, time.Minute)); err != nil {
		t.Fatalf("ScanOnce: %v", err)
	}
	// Not acknowledged: the file stays for the next start.
	if diff := cmp.Diff([]string{"done", "late.csv", "rejected"}, dirNames(t, dir)); diff != "" {
		t.Errorf("spool directory (-want +got):\n%s", diff)
	}
	for _, sub := range []string{"done", "rejected"} {
		if names := dirNames(t, filepath.Join(dir, sub)); len(names) > 0 {
			t.Errorf("%s/ holds %v", sub, names)
		}
	}
}

// TestSpoolPrunesDone: a file moved to done/ is stamped with the time of
// the move, so its retention counts from then even when the feed kept an
// old modification time; Run deletes what done/ has held longer than the
// retention, and leaves rejected/ alone.
func TestSpoolPrunesDone(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, ingest.Config{}, nil)
	ctx := testenv.Context(t, 2*time.Minute)
	dir := t.TempDir()
	sp := &ingest.Spool{Dir: dir, Pipeline: env.p, Log: env.log, Interval: 10 * time.Millisecond, Settle: 20 * time.Millisecond,
		Retention: 24 * time.Hour, PruneEvery: 10 * time.Millisecond}

	// A feed copied with its timestamps: written a week ago.
	week := time.Now().Add(-7 * 24 * time.Hour)
	feed := filepath.Join(dir, "old-export.csv")
	writeSettled(t, feed, genFeed(t, 14, 50, "spool-prune").text)
	if err := os.Chtimes(feed, week, week); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	if _, err := sp.ScanOnce(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "done", "old-export.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if info.ModTime().Before(before) {
		t.Fatalf("done/old-export.csv keeps the feed's time %v: retention would count from then", info.ModTime())
	}

	// In done/ for two days, and a rejected file as old.
	for _, p := range []string{filepath.Join(dir, "done", "stored-long-ago.csv"), filepath.Join(dir, "rejected", "unreadable.xml")} {
		writeSettled(t, p, "x\n")
		old := time.Now().Add(-48 * time.Hour)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- sp.Run(runCtx) }()
	deadline := time.Now().Add(time.Minute)
	for slices.Contains(dirNames(t, filepath.Join(dir, "done")), "stored-long-ago.csv") {
		if time.Now().After(deadline) {
			t.Fatal("done/stored-long-ago.csv was not pruned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"old-export.csv", "old-export.csv.summary.json"}, dirNames(t, filepath.Join(dir, "done"))); diff != "" {
		t.Errorf("done/ after pruning (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"unreadable.xml"}, dirNames(t, filepath.Join(dir, "rejected"))); diff != "" {
		t.Errorf("rejected/ after pruning (-want +got):\n%s", diff)
	}
}
