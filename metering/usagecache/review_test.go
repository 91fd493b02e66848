package usagecache

import (
	"context"
	"testing"
)

// TestSmallCacheKeepsAnswers: a cache configured for 100 answers
// (--portal-usage-cache-entries 100) must keep at least one: the same
// query asked twice in a row is read once.
func TestSmallCacheKeepsAnswers(t *testing.T) {
	f := &fakeReader{bytes: map[string]uint64{simA: 1}}
	c := newCache(t, f, 100)
	c.SetLive(true)
	for range 2 {
		if _, err := c.Usage(context.Background(), nov); err != nil {
			t.Fatal(err)
		}
	}
	if f.reads != 1 {
		t.Fatalf("the same query twice on an empty cache of 100 entries: %d reads, want 1 (the second a hit)", f.reads)
	}
}
