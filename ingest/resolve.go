package ingest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/simcore/simcore/provisioning"
)

// ICCIDResolver finds the card of an IMSI (provisioning/postgres.Store).
// ICCIDByIMSI returns provisioning.ErrSIMNotFound when no card has imsi;
// any other error means the answer is unknown (the inventory is down).
type ICCIDResolver interface {
	ICCIDByIMSI(ctx context.Context, imsi string) (string, error)
}

// Defaults of CachedResolver.
const (
	DefaultResolverSize        = 1 << 20
	DefaultResolverNegativeTTL = 30 * time.Second
)

// CachedResolver caches an ICCIDResolver. An IMSI belongs to one card for
// ever, so a found ICCID is kept without expiry (up to Size entries; beyond
// that an arbitrary entry is dropped). An unknown IMSI is remembered for
// NegativeTTL only, so cards imported into the inventory are seen soon.
// Errors other than provisioning.ErrSIMNotFound are not cached.
// It is safe for concurrent use.
type CachedResolver struct {
	next ICCIDResolver
	size int
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	found   map[string]string
	missing map[string]time.Time // imsi → when the negative answer expires
	swept   time.Time            // when expired negative answers were last dropped
}

var _ ICCIDResolver = (*CachedResolver)(nil)

// NewCachedResolver returns a cache in front of next; size <= 0 and
// negativeTTL <= 0 take the defaults above, now nil is time.Now.
func NewCachedResolver(next ICCIDResolver, size int, negativeTTL time.Duration, now func() time.Time) *CachedResolver {
	if size <= 0 {
		size = DefaultResolverSize
	}
	if negativeTTL <= 0 {
		negativeTTL = DefaultResolverNegativeTTL
	}
	if now == nil {
		now = time.Now
	}
	return &CachedResolver{
		next: next, size: size, ttl: negativeTTL, now: now,
		found: make(map[string]string), missing: make(map[string]time.Time),
	}
}

// ICCIDByIMSI returns the cached answer or asks the wrapped resolver. It
// returns provisioning.ErrSIMNotFound for an unknown IMSI, or the wrapped
// resolver's error.
func (c *CachedResolver) ICCIDByIMSI(ctx context.Context, imsi string) (string, error) {
	now := c.now()
	c.mu.Lock()
	if iccid, ok := c.found[imsi]; ok {
		c.mu.Unlock()
		return iccid, nil
	}
	if exp, ok := c.missing[imsi]; ok {
		if now.Before(exp) {
			c.mu.Unlock()
			return "", provisioning.ErrSIMNotFound
		}
		delete(c.missing, imsi)
	}
	c.mu.Unlock()

	iccid, err := c.next.ICCIDByIMSI(ctx, imsi)
	switch {
	case err == nil:
		c.mu.Lock()
		evict(c.found, c.size)
		c.found[imsi] = iccid
		c.mu.Unlock()
		return iccid, nil
	case errors.Is(err, provisioning.ErrSIMNotFound):
		c.mu.Lock()
		c.sweepMissing(now)
		evict(c.missing, c.size)
		c.missing[imsi] = now.Add(c.ttl)
		c.mu.Unlock()
		return "", provisioning.ErrSIMNotFound
	}
	return "", err
}

// sweepMissing drops the negative answers that have expired, at most once a
// TTL: a feed that keeps sending IMSIs unknown to the inventory would
// otherwise fill the cache with them up to Size. c.mu is held.
func (c *CachedResolver) sweepMissing(now time.Time) {
	if now.Sub(c.swept) < c.ttl {
		return
	}
	c.swept = now
	for imsi, exp := range c.missing {
		if !now.Before(exp) {
			delete(c.missing, imsi)
		}
	}
}

// evict drops arbitrary entries of m until it has room for one more.
func evict[V any](m map[string]V, size int) {
	for k := range m {
		if len(m) < size {
			return
		}
		delete(m, k)
	}
}
