package postgres

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// recordingCache reports what FollowBatches tells it.
type recordingCache struct {
	events chan string // "forget ICCID", "all", "live", "down"
}

func (r *recordingCache) Forget(iccids []string) {
	for _, i := range iccids {
		r.events <- "forget " + i
	}
}
func (r *recordingCache) ForgetAll() { r.events <- "all" }
func (r *recordingCache) SetLive(live bool) {
	if live {
		r.events <- "live"
	} else {
		r.events <- "down"
	}
}

// next waits for the next event.
func (r *recordingCache) next(t *testing.T, ctx context.Context) string {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-ctx.Done():
		t.Fatal("no event")
		return ""
	}
}

// upTo collects events until want.
func (r *recordingCache) upTo(t *testing.T, ctx context.Context, want string) []string {
	t.Helper()
	var got []string
	for !slices.Contains(got, want) {
		got = append(got, r.next(t, ctx))
	}
	return got
}

// TestFollowBatches: each finished batch's ICCIDs are forgotten when its
// notification arrives; a batch still being written when listening starts
// is forgotten at once (its rows may be visible already) and again when it
// finishes; the cache is live only while FollowBatches listens.
func TestFollowBatches(t *testing.T) {
	url := newDatabase(t)
	pool := newPool(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lease := acquire(t, ctx, NewLedger(pool))
	releaseAtCleanup(t, lease)
	batch := func(iccid string) uint64 {
		t.Helper()
		seq, err := lease.Begin(ctx, "w", []uint32{202611}, []string{iccid}, 1)
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	if err := lease.Commit(ctx, batch("8944100000000000001")); err != nil {
		t.Fatal(err)
	}
	writing := batch("8944100000000000002")

	rc := &recordingCache{events: make(chan string, 100)}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- FollowBatches(fctx, pool, rc, slog.New(slog.DiscardHandler)) }()

	got := rc.upTo(t, ctx, "live")
	if !slices.Equal(got, []string{"all", "forget 8944100000000000002", "live"}) {
		t.Fatalf("start: %q, want everything forgotten, then the batch being written, then live", got)
	}
	if err := lease.Commit(ctx, writing); err != nil {
		t.Fatal(err)
	}
	if e := rc.next(t, ctx); e != "forget 8944100000000000002" {
		t.Fatalf("after the commit: %q", e)
	}
	if err := lease.Abort(ctx, batch("8944100000000000003")); err != nil {
		t.Fatal(err) // an aborted batch's rows may have landed in part
	}
	if e := rc.next(t, ctx); e != "forget 8944100000000000003" {
		t.Fatalf("after the abort: %q", e)
	}
	if err := lease.Commit(ctx, batch("8944100000000000004")); err != nil {
		t.Fatal(err)
	}
	if e := rc.next(t, ctx); e != "forget 8944100000000000004" {
		t.Fatalf("after the next commit: %q (an earlier batch again?)", e)
	}
	// A batch left 'writing' (its writer died) is read again with each
	// later batch, but the batches between are not.
	batch("8944100000000000005")
	for _, iccid := range []string{"8944100000000000006", "8944100000000000007"} {
		if err := lease.Commit(ctx, batch(iccid)); err != nil {
			t.Fatal(err)
		}
		var got []string
		for !slices.Contains(got, "forget "+iccid) {
			got = append(got, rc.next(t, ctx))
		}
		for _, e := range got {
			if e != "forget 8944100000000000005" && e != "forget "+iccid {
				t.Fatalf("after committing %s: %q", iccid, got)
			}
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("FollowBatches: %v", err)
	}
	if e := rc.next(t, ctx); e != "down" {
		t.Fatalf("after stopping: %q, want down", e)
	}
}
