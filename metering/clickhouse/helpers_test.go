package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
)

// newTestDB gives the test a migrated ClickHouse database of its own.
func newTestDB(t *testing.T) (Config, driver.Conn) {
	t.Helper()
	cfg := Config{Addr: testenv.ClickHouseAddr(t), Database: testenv.UniqueName("t_")}
	ctx := testenv.Context(t, time.Minute)
	if _, err := Migrate(ctx, cfg); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		if err := DropDatabase(context.Background(), cfg); err != nil {
			t.Logf("drop %s: %v", cfg.Database, err)
		}
	})
	return cfg, conn
}

// memLedger is an in-process metering.Ledger: a mutex is the lease.
type memLedger struct {
	lock    chan struct{}
	mu      sync.Mutex
	batches []metering.LedgerBatch
	iccids  [][]string // by seq-1: the ICCIDs each Begin named
	// failBegin, when set, fails Begin calls.
	failBegin func() error
}

func newMemLedger() *memLedger { return &memLedger{lock: make(chan struct{}, 1)} }

func (l *memLedger) Acquire(ctx context.Context) (metering.Lease, error) {
	select {
	case l.lock <- struct{}{}:
		return &memLease{l: l}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type memLease struct {
	l        *memLedger
	released bool
}

func (m *memLease) MaxSeq(context.Context) (uint64, error) {
	m.l.mu.Lock()
	defer m.l.mu.Unlock()
	return uint64(len(m.l.batches)), nil
}

func (m *memLease) Since(_ context.Context, seq uint64) ([]metering.LedgerBatch, error) {
	m.l.mu.Lock()
	defer m.l.mu.Unlock()
	return slices.Clone(m.l.batches[min(int(seq), len(m.l.batches)):]), nil
}

func (m *memLease) Writing(context.Context) ([]metering.LedgerBatch, error) {
	m.l.mu.Lock()
	defer m.l.mu.Unlock()
	var out []metering.LedgerBatch
	for _, b := range m.l.batches {
		if b.State == "writing" {
			out = append(out, b)
		}
	}
	return out, nil
}

func (m *memLease) Begin(_ context.Context, writer string, months []uint32, iccids []string, rows int) (uint64, error) {
	if m.l.failBegin != nil {
		if err := m.l.failBegin(); err != nil {
			return 0, err
		}
	}
	m.l.mu.Lock()
	defer m.l.mu.Unlock()
	seq := uint64(len(m.l.batches) + 1)
	m.l.batches = append(m.l.batches, metering.LedgerBatch{Seq: seq, Writer: writer, Months: slices.Clone(months), State: "writing"})
	m.l.iccids = append(m.l.iccids, slices.Clone(iccids))
	return seq, nil
}

func (m *memLease) mark(seq uint64, s string) error {
	m.l.mu.Lock()
	defer m.l.mu.Unlock()
	m.l.batches[seq-1].State = s
	return nil
}

func (m *memLease) Commit(_ context.Context, seq uint64) error { return m.mark(seq, "committed") }
func (m *memLease) Abort(_ context.Context, seq uint64) error  { return m.mark(seq, "aborted") }

// Prune deletes nothing: the in-process ledger has no clock, and the tests
// of pruning use the PostgreSQL ledger (prune_test.go).
func (m *memLease) Prune(context.Context, time.Time, int) (metering.Pruned, error) {
	return metering.Pruned{}, nil
}

func (m *memLease) Held(context.Context) error {
	if m.released {
		return errors.New("lease released")
	}
	return nil
}

func (m *memLease) Release(context.Context) error {
	if !m.released {
		m.released = true
		<-m.l.lock
	}
	return nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// iccid builds a valid ICCID from a small number.
func iccid(n int) string {
	s := fmt.Sprintf("894400000000%06d", n)
	return s + string(metering.LuhnCheckDigit(s))
}

// rec builds a data record with identity ("node", id).
func rec(id int, sim int, start time.Time, up, down uint64) metering.Record {
	return metering.Record{
		Type: metering.TypeData, ICCID: iccid(sim), StartTime: start.UTC().Truncate(time.Second),
		BytesUp: up, BytesDown: down, DurationS: 60, NodeID: "node", RecordID: strconv.Itoa(id),
	}
}

func batchOf(recs ...metering.Record) *metering.Batch {
	b := &metering.Batch{Records: recs}
	for range recs {
		b.Sources = append(b.Sources, "test")
	}
	return b
}
