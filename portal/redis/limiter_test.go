package redis_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/portal"
	"github.com/simcore/simcore/portal/redis"
)

func newLimiter(t *testing.T) (*redis.Limiter, *goredis.Client, string) {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { rdb.Close() })
	prefix := testenv.RedisPrefix(t)
	return redis.New(rdb, prefix), rdb, prefix
}

func TestTakeCountsWithinWindow(t *testing.T) {
	t.Parallel()
	l, rdb, prefix := newLimiter(t)
	ctx := testenv.Context(t, 30*time.Second)
	lim := portal.Limit{N: 3, Window: time.Minute}
	for i := 1; i <= 3; i++ {
		if ok, _, err := l.Take(ctx, "k", lim); !ok || err != nil {
			t.Fatalf("attempt %d: %v, %v; want allowed", i, ok, err)
		}
	}
	ok, retry, err := l.Take(ctx, "k", lim)
	if ok || err != nil || retry <= 0 || retry > time.Minute {
		t.Fatalf("attempt 4: %v, %s, %v; want refused with a retry within the window", ok, retry, err)
	}
	if ok, _, _ := l.Take(ctx, "other", lim); !ok {
		t.Fatal("another key is limited too")
	}
	if ttl := rdb.PTTL(ctx, prefix+"k").Val(); ttl <= 0 {
		t.Fatalf("counter has no expiry (%s)", ttl)
	}
}

func TestWindowEnds(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	ctx := testenv.Context(t, 30*time.Second)
	lim := portal.Limit{N: 1, Window: 200 * time.Millisecond}
	// The second attempt must be refused if it comes within the window; on
	// a machine that stalled for longer between the two, try a fresh key.
	key := ""
	for try := 0; key == ""; try++ {
		k := "k" + strconv.Itoa(try)
		start := time.Now()
		if ok, _, _ := l.Take(ctx, k, lim); !ok {
			t.Fatal("first attempt refused")
		}
		ok, _, _ := l.Take(ctx, k, lim)
		switch {
		case !ok:
			key = k
		case time.Since(start) < lim.Window:
			t.Fatal("second attempt allowed within the window")
		case try == 9:
			t.Fatal("ten tries took longer than the window each: cannot test it")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ok, _, _ := l.Take(ctx, key, lim); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the window never ended")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRefund(t *testing.T) {
	t.Parallel()
	l, rdb, prefix := newLimiter(t)
	ctx := testenv.Context(t, 30*time.Second)
	lim := portal.Limit{N: 2, Window: time.Minute}
	for range 2 {
		l.Take(ctx, "k", lim)
	}
	if err := l.Refund(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := l.Take(ctx, "k", lim); !ok {
		t.Fatal("refunded attempt still counted")
	}
	if err := l.Refund(ctx, "never"); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, prefix+"never").Val(); n != 0 {
		t.Fatal("a refund created a counter")
	}
}

// TestParallelAttemptsAreCounted: concurrent attempts cannot slip past the
// limit between a read and a write.
func TestParallelAttemptsAreCounted(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t)
	ctx := testenv.Context(t, 30*time.Second)
	lim := portal.Limit{N: 5, Window: time.Minute}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for range 40 {
		wg.Go(func() {
			ok, _, err := l.Take(ctx, "k", lim)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 5 {
		t.Fatalf("%d of 40 parallel attempts allowed, want 5", allowed)
	}
}
