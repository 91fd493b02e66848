package usagecache

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/simcore/simcore/metering"
)

// fakeReader answers the bytes stored per ICCID; duringRead runs inside a
// query, to change things while it is in flight.
type fakeReader struct {
	bytes      map[string]uint64
	reads      int
	duringRead func()
	fail       error
}

func (f *fakeReader) Usage(_ context.Context, q metering.UsageQuery) (metering.Usage, error) {
	f.reads++
	if f.duringRead != nil {
		f.duringRead()
	}
	if f.fail != nil {
		return metering.Usage{}, f.fail
	}
	u := metering.Usage{ICCID: q.ICCID, From: q.From, To: q.To}
	u.Data.BytesUp = f.bytes[q.ICCID]
	return u, nil
}

func (f *fakeReader) Sessions(context.Context, metering.SessionQuery) (metering.SessionPage, error) {
	return metering.SessionPage{}, nil
}

const (
	simA = "8944100000000000018"
	simB = "8944100000000000026"
)

var (
	nov = metering.UsageQuery{ICCID: simA, From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	oct = metering.UsageQuery{ICCID: simA, From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), To: nov.From}
)

func newCache(t *testing.T, f Reader, maxEntries int) *Cache {
	t.Helper()
	c, err := New(Config{Reader: f, MaxEntries: maxEntries})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name      string
		live      bool
		between   func(c *Cache, f *fakeReader)
		second    metering.UsageQuery
		wantBytes uint64 // in the second answer
		wantReads int
	}{
		{"not live: always read", false, func(*Cache, *fakeReader) {}, nov, 1, 2},
		{"hit", true, func(*Cache, *fakeReader) {}, nov, 1, 1},
		{"another range is another answer", true, func(*Cache, *fakeReader) {}, oct, 1, 2},
		{"by day is another answer", true, func(*Cache, *fakeReader) {}, metering.UsageQuery{ICCID: simA, From: nov.From, To: nov.To, By: metering.GranDay}, 1, 2},
		{"the same instant in another zone is the same answer", true, func(*Cache, *fakeReader) {},
			metering.UsageQuery{ICCID: simA, From: nov.From.In(time.FixedZone("IST", 2*3600)), To: nov.To}, 1, 1},
		{"a stored batch with the ICCID", true, func(c *Cache, f *fakeReader) { f.bytes[simA] = 2; c.Forget([]string{simB, simA}) }, nov, 2, 2},
		{"a stored batch without it", true, func(c *Cache, f *fakeReader) { c.Forget([]string{simB}) }, nov, 1, 1},
		{"notifications lost", true, func(c *Cache, f *fakeReader) { f.bytes[simA] = 2; c.SetLive(false) }, nov, 2, 2},
		{"forget all", true, func(c *Cache, f *fakeReader) { f.bytes[simA] = 2; c.ForgetAll() }, nov, 2, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeReader{bytes: map[string]uint64{simA: 1, simB: 5}}
			c := newCache(t, f, 0)
			c.SetLive(tt.live)
			if u, err := c.Usage(ctx, nov); err != nil || u.Data.BytesUp != 1 {
				t.Fatalf("first: %+v, %v", u, err)
			}
			tt.between(c, f)
			u, err := c.Usage(ctx, tt.second)
			if err != nil || u.Data.BytesUp != tt.wantBytes {
				t.Fatalf("second: %+v, %v; want %d bytes", u, err, tt.wantBytes)
			}
			if f.reads != tt.wantReads {
				t.Fatalf("%d reads, want %d", f.reads, tt.wantReads)
			}
		})
	}
}

// A batch announced while a query is in flight: the query's answer may
// predate the batch, so it is not kept, and the next query reads again.
func TestCacheForgetDuringRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		forget func(c *Cache)
	}{
		{"the ICCID", func(c *Cache) { c.Forget([]string{simA}) }},
		{"everything", func(c *Cache) { c.ForgetAll() }},
		{"listening lost and regained", func(c *Cache) { c.SetLive(false); c.SetLive(true) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeReader{bytes: map[string]uint64{simA: 1}}
			c := newCache(t, f, 0)
			c.SetLive(true)
			f.duringRead = func() {
				f.duringRead = nil
				tt.forget(c)
				f.bytes[simA] = 2 // the batch's rows, visible after the query read
			}
			if _, err := c.Usage(ctx, nov); err != nil {
				t.Fatal(err)
			}
			if u, err := c.Usage(ctx, nov); err != nil || u.Data.BytesUp != 2 {
				t.Fatalf("after the batch: %+v, %v; want 2 bytes", u, err)
			}
		})
	}
}

func TestCacheErrorsNotKept(t *testing.T) {
	t.Parallel()
	boom := errors.New("clickhouse down")
	f := &fakeReader{bytes: map[string]uint64{simA: 1}, fail: boom}
	c := newCache(t, f, 0)
	c.SetLive(true)
	if _, err := c.Usage(context.Background(), nov); !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
	f.fail = nil
	if u, err := c.Usage(context.Background(), nov); err != nil || u.Data.BytesUp != 1 {
		t.Fatalf("after recovery: %+v, %v", u, err)
	}
}

func TestCacheBound(t *testing.T) {
	t.Parallel()
	f := &fakeReader{bytes: map[string]uint64{}}
	c := newCache(t, f, 2*shards) // two answers per shard
	c.SetLive(true)
	for i := range 1000 {
		q := nov
		q.ICCID = "89441000000000" + string(rune('0'+i%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i/100))
		for _, qq := range []metering.UsageQuery{q, {ICCID: q.ICCID, From: oct.From, To: oct.To}} {
			if _, err := c.Usage(context.Background(), qq); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range c.shards {
		s := &c.shards[i]
		n := 0
		for _, e := range s.sims {
			n += len(e.answers)
		}
		if n != s.answers || n > c.perShard || len(s.sims) > c.perShard {
			t.Fatalf("shard %d: %d answers (counted %d) in %d sims, bound %d", i, n, s.answers, len(s.sims), c.perShard)
		}
	}
}
