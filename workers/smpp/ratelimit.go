package smpp

import (
	"context"
	"sync"
	"time"
)

// limiter spaces events at least interval apart, with no burst: SMSCs
// count submits per second and some throttle on any excess. Each caller
// reserves the next free slot and sleeps until it, so many waiters cost one
// timer each and no goroutine.
type limiter struct {
	interval time.Duration

	mu   sync.Mutex
	next time.Time
}

func newLimiter(perSecond float64) *limiter {
	return &limiter{interval: time.Duration(float64(time.Second) / perSecond)}
}

// wait blocks until the caller's slot or ctx ends; a slot given up is not
// reused, which only slows the rate.
func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	slot := l.next
	if slot.Before(now) {
		slot = now
	}
	l.next = slot.Add(l.interval)
	l.mu.Unlock()
	d := slot.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
