package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A stored file whose move to done/ fails (the spool's filesystem turned
// read-only, or full, or done/ lost its permissions) was ingested again at
// every scan, once a second for as long as the disk stayed so: an error
// line and a "spool file ingested" line each time, its records counted as
// duplicates again and again (355 for 5 in ten seconds), its rejects
// inserted again, and its summary rewritten with stored 0. The spool must
// keep what the ingest found and retry the move alone, logging the
// failure once, and write the first ingest's summary when the move works.
func TestSpoolMoveFailureRetriesTheMoveNotTheIngest(t *testing.T) {
	p := reviewPipeline(t)
	dir := t.TempDir()
	st := recentStart()
	writeSettled(t, filepath.Join(dir, "a.csv"), "record_id,type,iccid,start_time\n"+
		"m1,data,"+testICCID+","+st+"\n"+
		"m1,data,"+testICCID+","+st+"\n"+ // a duplicate
		"m2,data,89441000000000000019,"+st+"\n", // a bad ICCID
		time.Minute)
	var logs bytes.Buffer
	readOnly := true
	sp := &Spool{Dir: dir, Pipeline: p, Log: slog.New(slog.NewTextHandler(&logs, nil)), Settle: time.Millisecond,
		rename: func(oldpath, newpath string) error {
			if readOnly {
				return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EROFS}
			}
			return os.Rename(oldpath, newpath)
		}}
	ctx := context.Background()
	var errs int
	for range 5 {
		if _, err := sp.ScanOnce(ctx); err != nil {
			errs++
		}
	}
	if errs != 1 {
		t.Errorf("%d scans of 5 failed while done/ was read-only, want the first only (one error, not one a second)", errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.csv")); err != nil {
		t.Fatalf("a.csv left the spool although its move failed: %v", err)
	}
	if n := strings.Count(logs.String(), "spool file ingested"); n != 1 {
		t.Errorf("a.csv ingested %d times, want once:\n%s", n, logs.String())
	}
	for outcome, want := range map[string]float64{"stored": 1, "duplicate": 1, "rejected": 1} {
		if got := testutil.ToFloat64(p.m.records.WithLabelValues("spool", FormatCSV, outcome)); got != want {
			t.Errorf("records %s = %v, want %v", outcome, got, want)
		}
	}
	if got := testutil.ToFloat64(p.m.files.WithLabelValues("spool", "ingested")); got != 1 {
		t.Errorf("files ingested = %v, want 1", got)
	}

	readOnly = false // space or permissions are back
	if n, err := sp.ScanOnce(ctx); err != nil || n != 1 {
		t.Fatalf("ScanOnce after the disk recovered = %d, %v; want the file moved", n, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "done", "a.csv.summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Summary{Read: 3, Stored: 1, Duplicates: 1, Rejected: 1}, sum); diff != "" {
		t.Errorf("summary in done/ (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(p.m.records.WithLabelValues("spool", FormatCSV, "duplicate")); got != 1 {
		t.Errorf("records duplicate = %v after the move, want 1", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 { // done/ and rejected/
		t.Errorf("spool still holds %d entries, want done/ and rejected/ only", len(ents))
	}
}

// A summary that cannot be written beside a stored file (a full disk
// fails the write after the data file's rename would still succeed) was
// dropped without a word: the operator found no summary and no reason.
// The file is still moved (its records are stored), and the failure is
// logged with the file's counts, which the summary would have held.
func TestSpoolSummaryWriteFailureIsLogged(t *testing.T) {
	p := reviewPipeline(t)
	dir := t.TempDir()
	writeSettled(t, filepath.Join(dir, "s.csv"), "record_id,type,iccid,start_time\n"+
		"s1,data,"+testICCID+","+recentStart()+"\n", time.Minute)
	// Something in the way of the summary: the write fails as ENOSPC would.
	if err := os.MkdirAll(filepath.Join(dir, "done", "s.csv.summary.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	sp := &Spool{Dir: dir, Pipeline: p, Log: slog.New(slog.NewTextHandler(&logs, nil)), Settle: time.Millisecond}
	if n, err := sp.ScanOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("ScanOnce = %d, %v; want the file ingested and moved", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "done", "s.csv")); err != nil {
		t.Fatalf("s.csv not in done/: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "summary") || !strings.Contains(out, "s.csv") || !strings.Contains(out, "stored=1") {
		t.Fatalf("no warning naming the unwritten summary of s.csv with its counts:\n%s", out)
	}
}

// TestSpoolMoveRetryWritesOneNote: a file whose name done/ (or rejected/)
// already holds (a feed that reuses its file names) goes to a name with a
// time suffix. While its move keeps failing (the spool directory lost its
// write permission, done/ did not), each retry wrote its note under a new
// suffix: a summary file a second, for as long as the failure lasted. The
// retries write one note, under the name the file then gets.
func TestSpoolMoveRetryWritesOneNote(t *testing.T) {
	tests := []struct {
		name, file, content, to, ext string
	}{
		{"stored, to done/", "a.csv", "record_id,type,iccid,start_time\nm1,data," + testICCID + "," + recentStart() + "\n", "done", ".summary.json"},
		{"rejected whole, to rejected/", "b.csv", "no,such,header\n1,2,3\n", "rejected", ".reason.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := reviewPipeline(t)
			dir := t.TempDir()
			for _, d := range []string{"done", "rejected"} {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			// Yesterday's file of the same name, already moved.
			if err := os.WriteFile(filepath.Join(dir, tt.to, tt.file), []byte("old\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			writeSettled(t, filepath.Join(dir, tt.file), tt.content, time.Minute)
			denied := true
			sp := &Spool{Dir: dir, Pipeline: p, Log: slog.New(slog.DiscardHandler), Settle: time.Millisecond,
				rename: func(oldpath, newpath string) error {
					if denied {
						return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EACCES}
					}
					return os.Rename(oldpath, newpath)
				}}
			ctx := context.Background()
			for range 5 {
				_, _ = sp.ScanOnce(ctx)
				time.Sleep(time.Millisecond) // a new time suffix each scan
			}
			notes := func() []string {
				ents, err := os.ReadDir(filepath.Join(dir, tt.to))
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, e := range ents {
					if strings.HasSuffix(e.Name(), tt.ext) {
						out = append(out, e.Name())
					}
				}
				return out
			}
			if got := notes(); len(got) != 1 {
				t.Errorf("5 failed moves left %d notes in %s/, want 1: %v", len(got), tt.to, got)
			}
			denied = false
			if _, err := sp.ScanOnce(ctx); err != nil {
				t.Fatal(err)
			}
			got := notes()
			if len(got) != 1 {
				t.Fatalf("after the move %s/ holds notes %v, want 1", tt.to, got)
			}
			moved := strings.TrimSuffix(got[0], tt.ext)
			if moved == tt.file {
				t.Fatalf("the note %s is for yesterday's file", got[0])
			}
			if _, err := os.Stat(filepath.Join(dir, tt.to, moved)); err != nil {
				t.Errorf("the note %s has no file beside it: %v", got[0], err)
			}
		})
	}
}

// With two processes' spools on one directory, a file whose move failed
// in one was ingested again by the other: the first had let go of it,
// though it keeps the file to retry the move alone. The other must leave
// it to the first, which moves it with its summary once the disk allows.
func TestSpoolMoveFailureKeepsTheFileFromOtherSpools(t *testing.T) {
	p := reviewPipeline(t)
	dir := t.TempDir()
	st := recentStart()
	writeSettled(t, filepath.Join(dir, "a.csv"), "record_id,type,iccid,start_time\n"+
		"h1,data,"+testICCID+","+st+"\n"+
		"h2,data,"+testICCID+","+st+"\n", time.Minute)
	var logsA, logsB bytes.Buffer
	readOnly := true
	a := &Spool{Dir: dir, Pipeline: p, Log: slog.New(slog.NewTextHandler(&logsA, nil)), Settle: time.Millisecond,
		rename: func(oldpath, newpath string) error {
			if readOnly {
				return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EROFS}
			}
			return os.Rename(oldpath, newpath)
		}}
	b := &Spool{Dir: dir, Pipeline: p, Log: slog.New(slog.NewTextHandler(&logsB, nil)), Settle: time.Millisecond}
	ctx := context.Background()
	if _, err := a.ScanOnce(ctx); err == nil {
		t.Fatal("the first spool's scan reported no failed move")
	}
	if n, err := b.ScanOnce(ctx); err != nil || n != 0 {
		t.Errorf("the other spool's scan = %d, %v; want 0 files, the file being the first's", n, err)
	}
	if n := strings.Count(logsB.String(), "spool file ingested"); n != 0 {
		t.Errorf("the other spool ingested a.csv again (%d times):\n%s", n, logsB.String())
	}
	readOnly = false
	if n, err := a.ScanOnce(ctx); err != nil || n != 1 {
		t.Fatalf("the first spool's scan after the disk recovered = %d, %v; want the file moved", n, err)
	}
	b2, err := os.ReadFile(filepath.Join(dir, "done", "a.csv.summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum Summary
	if err := json.Unmarshal(b2, &sum); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Summary{Read: 2, Stored: 2}, sum); diff != "" {
		t.Errorf("summary in done/ (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(p.m.records.WithLabelValues("spool", FormatCSV, "duplicate")); got != 0 {
		t.Errorf("records duplicate = %v, want 0 (ingested once)", got)
	}
}
