package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisDBs is how many databases `make services` gives Redis (--databases
// 64); database 0 holds only the allocation leases.
const redisDBs = 64

// Leases on test databases: held while the test runs, refreshed, and
// expiring on their own when a test process dies without cleaning up.
const (
	redisLeaseTTL     = 2 * time.Minute
	redisLeaseRefresh = 30 * time.Second
	redisLeaseWait    = 5 * time.Minute
)

// releaseLease deletes a lease only if this test still holds it.
var releaseLease = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// RedisDB gives the test a Redis database of its own (1..63), flushed before
// and after: Asynq keys its queues by name, not by a prefix, so tests that
// run queues cannot share a database. A database is leased in database 0
// (SET NX with an expiry, refreshed while the test runs), so parallel test
// processes, and parallel tests in one, never share one: a test that finds
// all 63 taken waits for one to be released. (Handing them out round-robin
// let a long test's database be flushed under it once 63 others had been
// handed out, as happens when two test runs share one Redis.)
func RedisDB(t testing.TB) (addr string, db int) {
	t.Helper()
	addr = RedisAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), redisLeaseWait+10*time.Second)
	defer cancel()
	c0 := redis.NewClient(&redis.Options{Addr: addr})
	var owner [8]byte
	_, _ = rand.Read(owner[:])
	me := hex.EncodeToString(owner[:])
	lease := ""
	deadline := time.Now().Add(redisLeaseWait)
	for lease == "" {
		// Start where the last test started, so databases are reused as
		// late as possible (a test's leftovers are flushed either way).
		n, err := c0.Incr(ctx, "simcore:test:redis-db-seq").Result()
		if err != nil {
			c0.Close()
			Fatalf(t, "testenv: Redis at %s: %v", addr, err)
		}
		for i := range redisDBs - 1 {
			cand := int((n+int64(i))%(redisDBs-1)) + 1
			key := "simcore:test:redis-db:" + strconv.Itoa(cand)
			ok, err := c0.SetNX(ctx, key, me, redisLeaseTTL).Result()
			if err != nil {
				c0.Close()
				Fatalf(t, "testenv: lease Redis db %d: %v", cand, err)
			}
			if ok {
				db, lease = cand, key
				break
			}
		}
		if lease == "" {
			if time.Now().After(deadline) {
				c0.Close()
				t.Fatalf("testenv: all %d Redis test databases stayed leased for %s", redisDBs-1, redisLeaseWait)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	stop := make(chan struct{})
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		tick := time.NewTicker(redisLeaseRefresh)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c0.Expire(ctx, lease, redisLeaseTTL)
				cancel()
			}
		}
	}()
	c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	release := func() {
		close(stop)
		<-refreshed
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.FlushDB(ctx).Err()
		c.Close()
		_ = releaseLease.Run(ctx, c0, []string{lease}, me).Err()
		c0.Close()
	}
	if err := c.FlushDB(ctx).Err(); err != nil {
		release()
		Fatalf(t, "testenv: flush Redis db %d: %v", db, err)
	}
	t.Cleanup(release)
	return addr, db
}
