package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisDBs is how many databases `make services` gives Redis (--databases
// 64); database 0 holds only the allocation counter.
const redisDBs = 64

// RedisDB gives the test a Redis database of its own (1..63), flushed before
// and after: Asynq keys its queues by name, not by a prefix, so tests that
// run queues cannot share a database. Databases are handed out round-robin
// through a counter in database 0, so parallel test processes do not collide
// unless more than 63 run at once.
func RedisDB(t testing.TB) (addr string, db int) {
	t.Helper()
	addr = RedisAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c0 := redis.NewClient(&redis.Options{Addr: addr})
	defer c0.Close()
	n, err := c0.Incr(ctx, "simcore:test:redis-db-seq").Result()
	if err != nil {
		Fatalf(t, "testenv: Redis at %s: %v", addr, err)
	}
	db = int(n%(redisDBs-1)) + 1
	c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	if err := c.FlushDB(ctx).Err(); err != nil {
		c.Close()
		Fatalf(t, "testenv: flush Redis db %d: %v", db, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.FlushDB(ctx).Err()
		c.Close()
	})
	return addr, db
}
