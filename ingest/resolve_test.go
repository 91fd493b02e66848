package ingest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/provisioning"
)

// fakeResolver answers from a map; fail, when set, returns its error instead.
type fakeResolver struct {
	mu    sync.Mutex
	sims  map[string]string // imsi → iccid
	fail  func() error
	calls int
}

func (f *fakeResolver) ICCIDByIMSI(_ context.Context, imsi string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		if err := f.fail(); err != nil {
			return "", err
		}
	}
	iccid, ok := f.sims[imsi]
	if !ok {
		return "", provisioning.ErrSIMNotFound
	}
	return iccid, nil
}

func (f *fakeResolver) add(imsi, iccid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sims[imsi] = iccid
}

func (f *fakeResolver) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func TestCachedResolver(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	f := &fakeResolver{sims: map[string]string{"001010000000001": "8900000000000000001"}}
	c := ingest.NewCachedResolver(f, 2, 30*time.Second, clock)

	for range 3 {
		if got, err := c.ICCIDByIMSI(ctx, "001010000000001"); err != nil || got != "8900000000000000001" {
			t.Fatalf("known IMSI: %q, %v", got, err)
		}
	}
	if f.count() != 1 {
		t.Errorf("known IMSI asked %d times, want 1 (cached)", f.count())
	}

	// Unknown: cached for the TTL, then asked again and found.
	if _, err := c.ICCIDByIMSI(ctx, "001010000000002"); !errors.Is(err, provisioning.ErrSIMNotFound) {
		t.Fatalf("unknown IMSI: %v", err)
	}
	f.add("001010000000002", "8900000000000000002")
	if _, err := c.ICCIDByIMSI(ctx, "001010000000002"); !errors.Is(err, provisioning.ErrSIMNotFound) {
		t.Fatalf("unknown IMSI within TTL: %v, want cached not found", err)
	}
	now = now.Add(31 * time.Second)
	if got, err := c.ICCIDByIMSI(ctx, "001010000000002"); err != nil || got != "8900000000000000002" {
		t.Fatalf("imported IMSI after TTL: %q, %v", got, err)
	}

	// Errors are not cached.
	boom := errors.New("inventory down")
	f.fail = func() error { return boom }
	if _, err := c.ICCIDByIMSI(ctx, "001010000000003"); !errors.Is(err, boom) {
		t.Fatalf("failing resolver: %v", err)
	}
	f.fail = nil
	f.add("001010000000003", "8900000000000000003")
	if got, err := c.ICCIDByIMSI(ctx, "001010000000003"); err != nil || got != "8900000000000000003" {
		t.Fatalf("after recovery: %q, %v", got, err)
	}
}
