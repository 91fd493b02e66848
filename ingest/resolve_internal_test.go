package ingest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/simcore/simcore/provisioning"
)

// resolverFunc is an ICCIDResolver from a function.
type resolverFunc func(ctx context.Context, imsi string) (string, error)

func (f resolverFunc) ICCIDByIMSI(ctx context.Context, imsi string) (string, error) {
	return f(ctx, imsi)
}

// A feed that keeps sending IMSIs that are not in the inventory (a
// roaming partner's cards, junk) must not fill the negative cache with
// answers that expired long ago: only those of about the last TTL are kept.
func TestCachedResolverForgetsExpiredNegatives(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	const ttl = 30 * time.Second
	unknown := resolverFunc(func(context.Context, string) (string, error) { return "", provisioning.ErrSIMNotFound })
	c := NewCachedResolver(unknown, 0, ttl, func() time.Time { return now })
	const n = 5000
	for i := range n {
		if _, err := c.ICCIDByIMSI(t.Context(), fmt.Sprintf("0010100%08d", i)); !errors.Is(err, provisioning.ErrSIMNotFound) {
			t.Fatalf("unknown IMSI %d: %v", i, err)
		}
		now = now.Add(time.Second)
	}
	c.mu.Lock()
	held := len(c.missing)
	c.mu.Unlock()
	if limit := 2 * int(ttl/time.Second); held > limit {
		t.Fatalf("%d negative answers held after %d unknown IMSIs one a second, want at most %d (two TTLs' worth)", held, n, limit)
	}
}
