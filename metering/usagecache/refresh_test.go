package usagecache

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/simcore/simcore/metering"
)

// manyReader is a fakeReader that also answers many ICCIDs at once.
type manyReader struct {
	*fakeReader
	asked      [][]string
	duringMany func()
}

func (m *manyReader) UsageMany(ctx context.Context, q metering.UsageQuery, iccids []string) (map[string]metering.Usage, error) {
	m.asked = append(m.asked, slices.Clone(iccids))
	if m.duringMany != nil {
		m.duringMany()
	}
	out := map[string]metering.Usage{}
	for _, i := range iccids {
		q.ICCID = i
		u := metering.Usage{ICCID: i, From: q.From, To: q.To}
		u.Data.BytesUp = m.bytes[i]
		out[i] = u
	}
	return out, nil
}

// refreshNow runs what Run would for the answers waiting.
func refreshNow(c *Cache, m ManyReader) {
	c.rmu.Lock()
	work := c.pending
	c.pending, c.waiting = map[queryKey][]string{}, 0
	c.rmu.Unlock()
	for k, iccids := range work {
		slices.Sort(iccids)
		c.refresh(context.Background(), m, k, slices.Compact(iccids))
	}
}

func newRefreshing(t *testing.T) (*Cache, *manyReader) {
	t.Helper()
	m := &manyReader{fakeReader: &fakeReader{bytes: map[string]uint64{simA: 1, simB: 5}}}
	c := newCache(t, m, 0)
	c.SetLive(true)
	c.refreshing = true // as while Run runs
	qb := nov
	qb.ICCID = simB
	for _, q := range []metering.UsageQuery{nov, qb, oct} {
		if _, err := c.Usage(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	return c, m
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	c, m := newRefreshing(t)
	m.bytes[simA], m.bytes[simB] = 2, 6 // a batch with both
	c.Forget([]string{simA, simB})
	refreshNow(c, m)
	if want := [][]string{{simA}, {simA, simB}}; len(m.asked) != 2 || !slices.ContainsFunc(m.asked, func(a []string) bool { return slices.Equal(a, want[1]) }) {
		t.Fatalf("asked %q, want one query per range: %q", m.asked, want)
	}
	reads := m.reads
	qb := nov
	qb.ICCID = simB
	for q, want := range map[metering.UsageQuery]uint64{nov: 2, qb: 6, oct: 2} {
		if u, err := c.Usage(context.Background(), q); err != nil || u.Data.BytesUp != want {
			t.Fatalf("after the refresh %s: %+v, %v; want %d bytes", q.ICCID, u, err, want)
		}
	}
	if m.reads != reads {
		t.Fatalf("%d misses after the refresh, want none", m.reads-reads)
	}
	if n := testutil.ToFloat64(c.refreshed); n != 3 {
		t.Fatalf("%v answers refreshed, want 3", n)
	}
}

// A batch forgotten while the refresh's query runs: its answer may predate
// the batch, so it is not kept.
func TestRefreshForgetDuringQuery(t *testing.T) {
	t.Parallel()
	c, m := newRefreshing(t)
	c.Forget([]string{simA})
	m.duringMany = func() {
		m.duringMany = nil
		c.Forget([]string{simA})
		m.bytes[simA] = 3
	}
	refreshNow(c, m)
	if u, err := c.Usage(context.Background(), nov); err != nil || u.Data.BytesUp != 3 {
		t.Fatalf("after the second batch: %+v, %v; want 3 bytes", u, err)
	}
}

// Run recomputes what Forget queued; without a ManyReader it only waits.
func TestRun(t *testing.T) {
	t.Parallel()
	m := &manyReader{fakeReader: &fakeReader{bytes: map[string]uint64{simA: 1}}}
	c := newCache(t, m, 0)
	c.SetLive(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	for { // Run has started once Forget queues
		c.rmu.Lock()
		started := c.refreshing
		c.rmu.Unlock()
		if started {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := c.Usage(ctx, nov); err != nil {
		t.Fatal(err)
	}
	c.Forget([]string{simA})
	for testutil.ToFloat64(c.refreshed) < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	plain := newCache(t, &fakeReader{}, 0)
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := plain.Run(ctx2); err != nil {
		t.Fatal(err)
	}
}
