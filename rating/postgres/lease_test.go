package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simcore/simcore/rating/postgres"
)

// TestWhileLeader: of two raters one rates; when it stops, the standby
// takes over.
func TestWhileLeader(t *testing.T) {
	_, pool, ctx := newStore(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var active, maxActive, ran, leader atomic.Int32
	work := func(id int32) func(context.Context) error {
		return func(ctx context.Context) error {
			n := active.Add(1)
			defer active.Add(-1)
			for m := maxActive.Load(); n > m && !maxActive.CompareAndSwap(m, n); m = maxActive.Load() {
			}
			leader.Store(id)
			ran.Add(1)
			<-ctx.Done()
			return nil
		}
	}
	stops := make([]context.CancelFunc, 3)
	dones := make([]chan struct{}, 3)
	for id := int32(1); id <= 2; id++ {
		c, stop := context.WithCancel(ctx)
		stops[id], dones[id] = stop, make(chan struct{})
		go func() { _ = postgres.WhileLeader(c, pool, log, work(id)); close(dones[id]) }()
	}
	defer func() {
		for id := 1; id <= 2; id++ {
			stops[id]()
			<-dones[id]
		}
	}()

	waitUntil(t, func() bool { return ran.Load() == 1 })
	time.Sleep(3 * time.Second) // the standby polls every 2 s: it must not start
	if ran.Load() != 1 || maxActive.Load() != 1 {
		t.Fatalf("%d raters ran, %d at once; want one", ran.Load(), maxActive.Load())
	}
	first := leader.Load()
	stops[first]()
	<-dones[first]
	waitUntil(t, func() bool { return ran.Load() == 2 })
	if leader.Load() == first || maxActive.Load() != 1 {
		t.Fatalf("leader %d after %d stopped, %d at once", leader.Load(), first, maxActive.Load())
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
