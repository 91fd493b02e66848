package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// memoryLimit keeps the Go heap's soft limit (--memory-limit-mib) above
// what the live heap needs. The limit keeps ingest's RSS low: without one
// the GC lets the heap grow to twice the live heap before it runs. But the
// dedupe key set, most of the live heap, grows with the records in the
// window (about 40 bytes each), and once it nears a fixed limit the GC
// runs almost without pause, taking up to half the CPU, with nothing
// said. So every minute, when the live heap has passed 60% of the limit,
// the limit is raised to 1.7 times the live heap and a warning says so.
// It is never lowered. GOMEMLIMIT, an operator's hard choice, is left
// alone (the keeper is not started).
type memoryLimit struct {
	log   *slog.Logger
	every time.Duration
	live  func() int64                   // the live heap after the last GC
	set   func(limit int64) (prev int64) // debug.SetMemoryLimit
}

// raisedLimit returns the limit a live heap of live bytes needs, and
// whether it is above limit.
func raisedLimit(live, limit int64) (int64, bool) {
	if live*10 <= limit*6 {
		return limit, false
	}
	const step = 64 << 20
	next := (live*17/10 + step - 1) / step * step
	return next, next > limit
}

// newMemoryLimit sets the limit to mib MiB and returns its keeper, which
// run starts. It registers simcore_ingest_memory_limit_bytes on reg.
func newMemoryLimit(log *slog.Logger, reg prometheus.Registerer, mib int) (*memoryLimit, error) {
	debug.SetMemoryLimit(int64(mib) << 20)
	m := &memoryLimit{log: log, every: time.Minute, live: liveHeap, set: debug.SetMemoryLimit}
	if reg != nil {
		g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "simcore_ingest_memory_limit_bytes",
			Help: "The Go heap's soft memory limit: --memory-limit-mib, raised when the live heap (mostly the dedupe key set) needs more.",
		}, func() float64 { return float64(debug.SetMemoryLimit(-1)) })
		if err := reg.Register(g); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// run checks the live heap every m.every until ctx ends.
func (m *memoryLimit) run(ctx context.Context) {
	t := time.NewTicker(m.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.check()
	}
}

// check raises the limit if the live heap needs it.
func (m *memoryLimit) check() {
	limit := m.set(-1)
	live := m.live()
	next, raise := raisedLimit(live, limit)
	if !raise {
		return
	}
	m.set(next)
	m.log.Warn("raised the soft memory limit: the live heap, mostly the dedupe key set, outgrew it; set --memory-limit-mib to at least this, or shorten --max-age",
		"live_mib", live>>20, "from_mib", limit>>20, "to_mib", next>>20)
}

// liveHeap reads the live heap after the last GC (runtime/metrics).
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}
