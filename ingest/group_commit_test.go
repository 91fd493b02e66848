package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
)

// firstWriteGate holds its first write until release is closed, and records
// the number of records of every batch.
type firstWriteGate struct {
	ingest.BatchWriter
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	sizes   []int
}

func (g *firstWriteGate) WriteBatch(ctx context.Context, b *metering.Batch) (metering.WriteResult, error) {
	g.mu.Lock()
	first := len(g.sizes) == 0
	g.sizes = append(g.sizes, len(b.Records))
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.release
	}
	return g.BatchWriter.WriteBatch(ctx, b)
}

// TestGroupCommit: sources that end at once (RADIUS requests) while the
// writer is busy share the next insert instead of queueing one each.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	gw := &firstWriteGate{entered: make(chan struct{}), release: make(chan struct{})}
	// A batch wait far longer than the test: only flushes hand batches over.
	e := newTestEnv(t, ingest.Config{MaxWait: time.Hour}, func(w ingest.BatchWriter) ingest.BatchWriter {
		gw.BatchWriter = w
		return gw
	})
	release := sync.OnceFunc(func() { close(gw.release) })
	t.Cleanup(release) // before the pipeline stops, should the test fail early
	ctx := testenv.Context(t, time.Minute)
	sink := &ingest.RecordSink{Pipeline: e.p, Kind: "radius", Name: "radius", Format: ingest.FormatRADIUS}
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	record := func(i int) metering.Record {
		return metering.Record{Type: metering.TypeData, ICCID: simFor(i), StartTime: start, DurationS: 60,
			BytesUp: uint64(i), NodeID: "nas-gc", RecordID: fmt.Sprintf("r%d", i)}
	}
	const others = 20
	errs := make(chan error, others+1)
	go func() { errs <- sink.Accept(ctx, []metering.Record{record(0)}) }()
	<-gw.entered // the writer is busy with the first request
	for i := 1; i <= others; i++ {
		go func() { errs <- sink.Accept(ctx, []metering.Record{record(i)}) }()
	}
	// Let every request reach the pipeline before the writer frees up.
	deadline := time.Now().Add(30 * time.Second)
	for pendingRecords(t, e) < others+1 {
		if time.Now().After(deadline) {
			t.Fatalf("only %v records pending", pendingRecords(t, e))
		}
		time.Sleep(5 * time.Millisecond)
	}
	release()
	for range others + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	gw.mu.Lock()
	defer gw.mu.Unlock()
	if len(gw.sizes) != 2 || gw.sizes[0] != 1 || gw.sizes[1] != others {
		t.Errorf("batches of %v records, want [1 %d]: the waiting requests in one insert", gw.sizes, others)
	}
	if n := e.storedCount(t); n != others+1 {
		t.Errorf("%d records stored, want %d", n, others+1)
	}
}

// pendingRecords reads the simcore_ingest_pending_records gauge.
func pendingRecords(t *testing.T, e *testEnv) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "simcore_ingest_pending_records" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no simcore_ingest_pending_records gauge")
	return 0
}
