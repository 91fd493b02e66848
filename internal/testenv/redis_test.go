package testenv

import (
	"context"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestRedisDBLeases: tests that hold databases at once get different ones,
// each leased while held and released after.
func TestRedisDBLeases(t *testing.T) {
	addr := RedisAddr(t)
	c0 := redis.NewClient(&redis.Options{Addr: addr})
	defer c0.Close()
	ctx := context.Background()
	var dbs []int
	t.Run("hold", func(t *testing.T) {
		for range 3 {
			_, db := RedisDB(t)
			for _, d := range dbs {
				if d == db {
					t.Fatalf("database %d handed out twice: %v", db, dbs)
				}
			}
			dbs = append(dbs, db)
			if n, err := c0.Exists(ctx, "simcore:test:redis-db:"+strconv.Itoa(db)).Result(); err != nil || n != 1 {
				t.Fatalf("database %d not leased while held (%d, %v)", db, n, err)
			}
		}
	})
	for _, db := range dbs {
		if n, err := c0.Exists(ctx, "simcore:test:redis-db:"+strconv.Itoa(db)).Result(); err != nil || n != 0 {
			t.Errorf("database %d still leased after its test (%d, %v)", db, n, err)
		}
	}
}
