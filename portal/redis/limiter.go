// Package redis counts portal attempts (logins, activation codes,
// password-reset mails) in Redis, so limits hold across every portal
// process. It implements portal.Limiter and imports only the portal domain.
package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/simcore/simcore/portal"
)

// Limiter is a fixed-window counter per key: the first attempt in a window
// starts it with the window's length as expiry, later ones count up. A
// burst of twice the limit across a window edge is possible, which is
// acceptable for these limits and costs one round trip per attempt.
type Limiter struct {
	rdb    goredis.UniversalClient
	prefix string
}

var _ portal.Limiter = (*Limiter)(nil)

// New returns a limiter on rdb whose keys start with prefix (e.g.
// "simcore:").
func New(rdb goredis.UniversalClient, prefix string) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix}
}

// take counts and (for the first attempt) starts the window in one step, so
// a counter never lives without an expiry.
var take = goredis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`)

// refund decrements a live counter, never below zero and never creating one.
var refund = goredis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 0`)

// Take counts one attempt under key and reports whether it is within l;
// retryAfter is the rest of the window when it is not.
func (l *Limiter) Take(ctx context.Context, key string, lim portal.Limit) (bool, time.Duration, error) {
	res, err := take.Run(ctx, l.rdb, []string{l.prefix + key}, lim.Window.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("redis limiter: %w", err)
	}
	n, ttl := res[0], time.Duration(res[1])*time.Millisecond
	if n > int64(lim.N) {
		return false, ttl, nil
	}
	return true, 0, nil
}

// Refund takes back one attempt under key.
func (l *Limiter) Refund(ctx context.Context, key string) error {
	if err := refund.Run(ctx, l.rdb, []string{l.prefix + key}).Err(); err != nil && err != goredis.Nil {
		return fmt.Errorf("redis limiter: %w", err)
	}
	return nil
}
