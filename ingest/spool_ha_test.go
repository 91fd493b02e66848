package ingest_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/internal/testenv"
)

// Two ingest processes (two pipelines with writers of their own, on the
// same ClickHouse and PostgreSQL) watch one spool directory, as operators
// run them for availability. Each file must be ingested by one of them
// only: moved to done/ once, with one summary that counts its records as
// stored (not as duplicates of the other's ingest), and no move failure.
func TestSpoolTwoProcessesOneDirectory(t *testing.T) {
	t.Parallel()
	a := newTestEnv(t, ingest.Config{}, nil)
	b := newPeerEnv(t, a, ingest.Config{})
	ctx := testenv.Context(t, 2*time.Minute)
	dir := t.TempDir()

	const files = 6
	feeds := make([]feed, files)
	for i := range feeds {
		feeds[i] = genFeed(t, int64(100+i), 1200, fmt.Sprintf("ha-spool-%d", i))
		writeSettled(t, filepath.Join(dir, fmt.Sprintf("f%d.csv", i)), feeds[i].text)
	}

	spools := []*ingest.Spool{
		{Dir: dir, Pipeline: a.p, Log: a.log, Settle: time.Millisecond},
		{Dir: dir, Pipeline: b.p, Log: b.log, Settle: time.Millisecond},
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		handled int
		errs    []error
	)
	start := make(chan struct{})
	for _, sp := range spools {
		wg.Go(func() {
			<-start
			n, err := sp.ScanOnce(ctx)
			mu.Lock()
			defer mu.Unlock()
			handled += n
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Errorf("ScanOnce: %v", err)
	}
	if handled != files {
		t.Errorf("the two spools handled %d files together, want %d (each once)", handled, files)
	}

	var want []string
	for i := range files {
		want = append(want, fmt.Sprintf("f%d.csv", i), fmt.Sprintf("f%d.csv.summary.json", i))
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, dirNames(t, filepath.Join(dir, "done"))); diff != "" {
		t.Errorf("done/ (-want +got):\n%s", diff)
	}
	for i, f := range feeds {
		path := filepath.Join(dir, "done", fmt.Sprintf("f%d.csv.summary.json", i))
		if _, err := os.Stat(path); err != nil {
			continue // reported above
		}
		if diff := cmp.Diff(f.want(), readSummary(t, path)); diff != "" {
			t.Errorf("summary of f%d.csv (-want +got):\n%s", i, diff)
		}
	}
	if diff := cmp.Diff(wantTotals(t, feeds...), a.totals(t)); diff != "" {
		t.Errorf("stored totals (-want +got):\n%s", diff)
	}
	for _, e := range []*testEnv{a, b} {
		if n := filesCounted(t, e, "move_failed"); n != 0 {
			t.Errorf("a spool counted %v failed moves", n)
		}
	}
}

// filesCounted is simcore_ingest_files_total of the spool with outcome.
func filesCounted(t *testing.T, e *testEnv, outcome string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != "simcore_ingest_files_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["source"] == "spool" && labels["outcome"] == outcome {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}

// TestSpoolFileReplacedWhileIngested: a feed that renames a new file over
// a name the spool is ingesting (a reused name) must lose neither file.
// The spool read the name again after taking the file, so it ingested the
// new file and moved it away, and the first file's records were never
// read; with two processes, both could ingest the new one. The file taken
// is the file read; the new one stays for the next scan.
func TestSpoolFileReplacedWhileIngested(t *testing.T) {
	e := newTestEnv(t, ingest.Config{}, nil)
	dir := t.TempDir()
	st := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	header := "record_id,type,iccid,start_time\n"
	write := func(path, id string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(header+id+",data,"+"8944100000000000018,"+st+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Minute)
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "f.csv"), "first")
	replaced := false
	sp := &ingest.Spool{Dir: dir, Pipeline: e.p, Log: e.log, Settle: time.Millisecond}
	ingest.SetAfterClaim(sp, func(name string) {
		if !replaced {
			replaced = true
			write(filepath.Join(dir, ".next"), "second")
			if err := os.Rename(filepath.Join(dir, ".next"), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	})
	for range 3 {
		if _, err := sp.ScanOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.storedCount(t); n != 2 {
		t.Fatalf("%d records stored, want 2: both the file taken and the one renamed over it", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "f.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("f.csv still in the spool after three scans: %v", err)
	}
}

// TestSpoolWarnsWhenFilesCannotBeLocked: on a filesystem that refuses
// flock (NFS v3 without its lock manager), files are ingested without the
// lock, and two processes on that spool would both ingest every file. The
// refusal was logged at debug level only, so an operator running two
// never learned why each file had two summaries; it is now a warning,
// once.
func TestSpoolWarnsWhenFilesCannotBeLocked(t *testing.T) {
	e := newTestEnv(t, ingest.Config{}, nil)
	dir := t.TempDir()
	st := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	for i := range 2 {
		path := filepath.Join(dir, fmt.Sprintf("f%d.csv", i))
		if err := os.WriteFile(path, []byte(fmt.Sprintf("record_id,type,iccid,start_time\nl%d,data,8944100000000000018,%s\n", i, st)), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Minute)
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	sp := &ingest.Spool{Dir: dir, Pipeline: e.p, Log: slog.New(slog.NewTextHandler(&logs, nil)), Settle: time.Millisecond}
	ingest.SetFlock(sp, func(int, int) error { return syscall.ENOLCK })
	if n, err := sp.ScanOnce(t.Context()); err != nil || n != 2 {
		t.Fatalf("ScanOnce = %d, %v; want both files ingested without the lock", n, err)
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"spool files cannot be locked"); n != 1 {
		t.Fatalf("%d warnings that files cannot be locked, want 1:\n%s", n, logs.String())
	}
}
