package clickhouse

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
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
//
// The insert is held between the start of its INSERTs and the sending of
// their data (where insertRecords checks its lease), so it is running on
// the server for as long as the test needs, however slow the machine: the
// test used to poll for a large insert while it happened to run, and missed
// it on a busy machine.
func TestWriterWaitsOutInsertsStillRunning(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, 5*time.Minute)
	a := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger()})
	const n = 50_000 // 3.5 hours of records: one insert, or two across a month's turn
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
	inner, err := newMemLedger().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lease := &gatedLease{Lease: inner, entered: make(chan struct{}), release: make(chan struct{})}
	releaseInsert := sync.OnceFunc(func() { close(lease.release) })
	t.Cleanup(releaseInsert) // should the test fail early
	go func() { done <- a.insertRecords(ctx, lease, b, keys, stored, n, 1) }()
	select {
	case <-lease.entered:
	case err := <-done:
		t.Fatalf("insertRecords returned %v before checking its lease", err)
	case <-ctx.Done():
		t.Fatal("insertRecords never checked its lease")
	}
	// Its INSERTs are begun: the server lists them.
	for {
		var running uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.processes WHERE startsWith(query_id, ?)", a.insertPrefix).Scan(&running); err != nil {
			t.Fatal(err)
		}
		if running > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("never saw the insert running under its query id; the test cannot check the fence")
		case <-time.After(10 * time.Millisecond):
		}
	}
	type result struct {
		w   *Writer
		err error
	}
	started := make(chan result, 1)
	go func() {
		// Its own logger: it may still run if the test fails meanwhile.
		w, err := NewWriter(ctx, WriterConfig{Conn: conn, Ledger: newMemLedger(), MaxAge: 90 * 24 * time.Hour, Log: slog.New(slog.DiscardHandler)})
		started <- result{w, err}
	}()
	// The new writer must wait while the insert runs (a wait that ends
	// early is a failure; one that does not is not proof, the check below
	// of the keys it loaded is).
	select {
	case r := <-started:
		t.Fatalf("NewWriter returned (%v) while another writer's insert was running", r.err)
	case <-time.After(500 * time.Millisecond):
	}
	releaseInsert()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r := <-started
	if r.err != nil {
		t.Fatalf("new writer: %v", r.err)
	}
	if r.w.Keys() != n {
		t.Fatalf("a writer started during another's insert loaded %d keys, want all %d", r.w.Keys(), n)
	}
}

// gatedLease is a lease whose first Held call waits until release is
// closed, and closes entered when it starts waiting.
type gatedLease struct {
	metering.Lease
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (g *gatedLease) Held(ctx context.Context) error {
	first := false
	g.once.Do(func() { first = true; close(g.entered) })
	if first {
		select {
		case <-g.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.Lease.Held(ctx)
}
