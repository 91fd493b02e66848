package clickhouse

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
)

func newTestWriter(t *testing.T, cfg WriterConfig) *Writer {
	t.Helper()
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 90 * 24 * time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = testLogger(t)
	}
	w, err := NewWriter(testenv.Context(t, time.Minute), cfg)
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	return w
}

type sums struct{ rows, up, down, hourlyUp, dailyUp uint64 }

func readSums(t *testing.T, w *Writer) sums {
	t.Helper()
	ctx := testenv.Context(t, 30*time.Second)
	var s sums
	if err := w.conn.QueryRow(ctx, "SELECT count(), sum(bytes_up), sum(bytes_down) FROM usage_records").Scan(&s.rows, &s.up, &s.down); err != nil {
		t.Fatal(err)
	}
	if err := w.conn.QueryRow(ctx, "SELECT sum(bytes_up) FROM usage_hourly").Scan(&s.hourlyUp); err != nil {
		t.Fatal(err)
	}
	if err := w.conn.QueryRow(ctx, "SELECT sum(bytes_up) FROM usage_daily").Scan(&s.dailyUp); err != nil {
		t.Fatal(err)
	}
	return s
}

func countStored(res metering.WriteResult) int {
	n := 0
	for _, s := range res.Stored {
		if s {
			n++
		}
	}
	return n
}

func TestWriterStoresEachRecordOnce(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, time.Minute)
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger()})
	now := time.Now().Add(-time.Hour)

	// Within one batch: record 2 twice; across months too.
	b := batchOf(rec(1, 1, now, 10, 100), rec(2, 1, now, 20, 200), rec(2, 1, now, 20, 200), rec(3, 2, now.AddDate(0, -1, 0), 30, 300))
	res, err := w.WriteBatch(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Stored, []bool{true, true, false, true}; !equalBools(got, want) {
		t.Fatalf("first batch stored %v, want %v", got, want)
	}
	// Again, with one new record: only that one is stored.
	res, err = w.WriteBatch(ctx, batchOf(rec(1, 1, now, 10, 100), rec(4, 2, now, 40, 400)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Stored, []bool{false, true}; !equalBools(got, want) {
		t.Fatalf("second batch stored %v, want %v", got, want)
	}
	// A new writer (a restart) knows everything stored before it.
	w2 := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger()})
	if w2.Keys() != 4 {
		t.Fatalf("restarted writer loaded %d keys, want 4", w2.Keys())
	}
	res, err = w2.WriteBatch(ctx, batchOf(rec(3, 2, now.AddDate(0, -1, 0), 30, 300), rec(4, 2, now, 40, 400)))
	if err != nil {
		t.Fatal(err)
	}
	if countStored(res) != 0 {
		t.Fatalf("restarted writer stored %v, want nothing", res.Stored)
	}
	got := readSums(t, w2)
	want := sums{rows: 4, up: 100, down: 1000, hourlyUp: 100, dailyUp: 100}
	if got != want {
		t.Fatalf("stored sums %+v, want %+v", got, want)
	}
}

// TestWriterLedgerICCIDs: each batch tells the ledger (and so rating) the
// ICCIDs of the records it stores, each once, and not those whose records
// were all duplicates.
func TestWriterLedgerICCIDs(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, time.Minute)
	l := newMemLedger()
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: l})
	now := time.Now().Add(-time.Hour)
	if _, err := w.WriteBatch(ctx, batchOf(rec(1, 3, now, 1, 1), rec(2, 1, now, 1, 1), rec(3, 3, now, 1, 1), rec(2, 1, now, 1, 1))); err != nil {
		t.Fatal(err)
	}
	// SIM 3's record is a duplicate; SIM 2 is new, twice; SIM 1 has a new one.
	if _, err := w.WriteBatch(ctx, batchOf(rec(1, 3, now, 1, 1), rec(4, 2, now, 1, 1), rec(5, 2, now, 1, 1), rec(6, 1, now, 1, 1))); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{iccid(3), iccid(1)}, {iccid(2), iccid(1)}}
	if !slices.EqualFunc(l.iccids, want, slices.Equal) {
		t.Errorf("ledger ICCIDs by batch %v, want %v (each stored ICCID once, in order of appearance)", l.iccids, want)
	}
}

func TestWriterCatchesUpWithOtherWriters(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, time.Minute)
	ledger := newMemLedger()
	a := newTestWriter(t, WriterConfig{Conn: conn, Ledger: ledger})
	b := newTestWriter(t, WriterConfig{Conn: conn, Ledger: ledger})
	now := time.Now().Add(-time.Hour)

	if _, err := a.WriteBatch(ctx, batchOf(rec(1, 1, now, 1, 0), rec(2, 1, now, 2, 0))); err != nil {
		t.Fatal(err)
	}
	// b started before a wrote, so only the ledger tells it about 1 and 2.
	res, err := b.WriteBatch(ctx, batchOf(rec(2, 1, now, 2, 0), rec(3, 1, now, 4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Stored, []bool{false, true}; !equalBools(got, want) {
		t.Fatalf("b stored %v, want %v", got, want)
	}
	res, err = a.WriteBatch(ctx, batchOf(rec(3, 1, now, 4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if countStored(res) != 0 {
		t.Fatalf("a stored b's record again")
	}
	if got := readSums(t, a); got.rows != 3 || got.up != 7 || got.dailyUp != 7 {
		t.Fatalf("sums %+v, want 3 rows, 7 bytes up", got)
	}
}

// failingConn makes the next insert fail after it was sent (the outcome is
// unknown to the writer) or before.
func TestWriterResolvesInsertOfUnknownOutcome(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, time.Minute)
	ledger := newMemLedger()
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: ledger})
	now := time.Now().Add(-time.Hour)

	// The insert lands, then the writer is told it failed: simulate by
	// inserting with a writer that then "forgets" (an unresolved batch).
	b := batchOf(rec(1, 1, now, 5, 0), rec(2, 1, now.AddDate(0, -1, 0), 6, 0))
	res, err := w.WriteBatch(ctx, b)
	if err != nil || countStored(res) != 2 {
		t.Fatalf("write: %v %v", res.Stored, err)
	}
	// Forget the keys as if the acknowledgement had been lost, and mark the
	// batch unresolved: the next write must learn what landed first.
	w.keys = newKeySet(0)
	w.unresolved = append(w.unresolved, metering.LedgerBatch{Seq: 1, Writer: w.id, Months: []uint32{yyyymm(now), yyyymm(now.AddDate(0, -1, 0))}})
	res, err = w.WriteBatch(ctx, batchOf(rec(1, 1, now, 5, 0), rec(2, 1, now.AddDate(0, -1, 0), 6, 0), rec(3, 1, now, 7, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Stored, []bool{false, false, true}; !equalBools(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	if got := readSums(t, w); got.rows != 3 || got.up != 18 || got.hourlyUp != 18 {
		t.Fatalf("sums %+v, want 3 rows and 18 bytes up everywhere", got)
	}
	if ledger.batches[0].State != "aborted" {
		t.Fatalf("unresolved batch left %q in the ledger, want aborted", ledger.batches[0].State)
	}
}

func TestWriterLedgerFailureStoresNothing(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, time.Minute)
	ledger := newMemLedger()
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: ledger})
	boom := errors.New("ledger down")
	ledger.failBegin = func() error { return boom }
	_, err := w.WriteBatch(ctx, batchOf(rec(1, 1, time.Now(), 5, 0)))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	ledger.failBegin = nil
	res, err := w.WriteBatch(ctx, batchOf(rec(1, 1, time.Now(), 5, 0)))
	if err != nil || countStored(res) != 1 {
		t.Fatalf("retry: stored %v, err %v; want the record stored", res.Stored, err)
	}
	if got := readSums(t, w); got.rows != 1 {
		t.Fatalf("rows %d, want 1", got.rows)
	}
}

func TestWriterRejectsCollapseOnReplay(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, time.Minute)
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger()})
	rj := metering.Reject{Source: "f.csv", Format: "csv", Line: 7, Offset: 99, Reason: "iccid_luhn", Detail: "iccid: iccid_luhn", Raw: []byte("x,y,z")}
	for range 2 {
		if _, err := w.WriteBatch(ctx, &metering.Batch{Rejects: []metering.Reject{rj}}); err != nil {
			t.Fatal(err)
		}
	}
	var n uint64
	var reason, raw string
	if err := conn.QueryRow(ctx, "SELECT count(), any(reason), any(raw) FROM rejected_records FINAL").Scan(&n, &reason, &raw); err != nil {
		t.Fatal(err)
	}
	if n != 1 || reason != "iccid_luhn" || raw != "x,y,z" {
		t.Fatalf("rejects: %d rows, reason %q raw %q; want one iccid_luhn row with its raw text", n, reason, raw)
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var _ = context.Background

// TestWriterWaitsOutInsertsStillRunning: a writer that starts while another
// writer's insert is still running on the server (its client died, its
// lease passed on) must not read the stored keys until that insert has
// finished, or it would store those records again.
func TestWriterWaitsOutInsertsStillRunning(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, 2*time.Minute)
	a := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger()})
	const n = 300_000
	b := &metering.Batch{}
	keys := make([]metering.Key, n)
	stored := make([]bool, n)
	start := time.Now().Add(-48 * time.Hour)
	for i := range n {
		r := rec(i, i%7000, start.Add(time.Duration(i)*time.Second/4), 1, 1)
		b.Records = append(b.Records, r)
		b.Sources = append(b.Sources, "x")
		keys[i], stored[i] = r.Key(), true
	}
	done := make(chan error, 1)
	lease, err := newMemLedger().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- a.insertRecords(ctx, lease, b, keys, stored, n, 1) }()
	seen := false
	for deadline := time.Now().Add(20 * time.Second); !seen && time.Now().Before(deadline); {
		var running uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.processes WHERE startsWith(query_id, ?)", a.insertPrefix).Scan(&running); err != nil {
			t.Fatal(err)
		}
		seen = running > 0
		select {
		case err := <-done:
			done <- err
			deadline = time.Time{}
		default:
			time.Sleep(2 * time.Millisecond)
		}
	}
	if !seen {
		t.Fatal("never saw the insert running under its query id; the test cannot check the fence")
	}
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger()})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.Keys() != n {
		t.Fatalf("a writer started during another's insert loaded %d keys, want all %d", w.Keys(), n)
	}
}
