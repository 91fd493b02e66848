package usagecache

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/simcore/simcore/metering"
)

// seriesReader answers every query with an hourly series that has a bucket
// in every hour of the range, as a SIM with traffic every hour has.
type seriesReader struct{}

func (seriesReader) Usage(_ context.Context, q metering.UsageQuery) (metering.Usage, error) {
	u := metering.Usage{ICCID: q.ICCID, From: q.From, To: q.To}
	for t := q.From.Truncate(time.Hour); t.Before(q.To); t = t.Add(time.Hour) {
		b := metering.Bucket{From: t, To: t.Add(time.Hour)}
		b.Data.BytesUp = 1
		u.Series = append(u.Series, b)
	}
	return u, nil
}

func (seriesReader) Sessions(context.Context, metering.SessionQuery) (metering.SessionPage, error) {
	return metering.SessionPage{}, nil
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// One portal user polling their own SIM's hourly usage over the longest
// range allowed (93 days, 2,232 buckets), with "to" moving by a second per
// request (the default "to" is now), makes every answer a new entry. The
// cache bounds answers by count only, so at the default size a single
// ICCID's shard kept 3,125 answers of ~210 KiB each (~650 MiB), and the
// whole cache up to ~40 GiB. Its memory must be bounded in bytes.
func TestCacheMemoryIsBoundedWithLongSeries(t *testing.T) {
	c, err := New(Config{Reader: seriesReader{}}) // the default size
	if err != nil {
		t.Fatal(err)
	}
	c.SetLive(true)
	before := heapInUse()
	to := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const polls = 400
	for i := range polls {
		q := metering.UsageQuery{ICCID: simA, To: to.Add(time.Duration(i) * time.Second), By: metering.GranHour}
		q.From = q.To.Add(-93 * 24 * time.Hour)
		if _, err := c.Usage(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	grown := int64(heapInUse()) - int64(before)
	runtime.KeepAlive(c)
	// A shard's share of the default cache at a month's daily series per
	// answer (the size docs/portal.md budgets for) is ~10 MiB.
	if grown > 32<<20 {
		t.Fatalf("%d polls of one SIM's hourly usage left the cache holding %d MiB", polls, grown>>20)
	}
	t.Logf("cache grew by %d MiB", grown>>20)
}
