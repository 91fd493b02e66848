package portal

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// fakeStore counts reads and serves one session per token hash; hooks run
// inside a read, to change things while it is in flight.
type fakeStore struct {
	Store      // unused methods panic
	sessions   map[string]Session
	owns       map[string]bool // "user/iccid"
	reads      int
	duringRead func()
}

func (f *fakeStore) Session(_ context.Context, hash []byte, now time.Time) (Session, User, error) {
	f.reads++
	if f.duringRead != nil {
		f.duringRead()
	}
	s, ok := f.sessions[string(hash)]
	if !ok || !now.Before(s.ExpiresAt) {
		return Session{}, User{}, ErrUnauthenticated
	}
	return s, User{ID: s.UserID, Email: "ada@example.com"}, nil
}

func (f *fakeStore) DeleteSession(_ context.Context, hash []byte) error {
	delete(f.sessions, string(hash))
	return nil
}

func (f *fakeStore) OwnsSIM(_ context.Context, user int64, iccid string) (bool, error) {
	f.reads++
	if f.duringRead != nil {
		f.duringRead()
	}
	return f.owns[iccid], nil
}

func (f *fakeStore) ClaimSIM(_ context.Context, _ int64, iccid string) error {
	f.owns[iccid] = true
	return nil
}

// clock is a hand-moved time.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newFake(t0 time.Time) (*fakeStore, []byte, []byte) {
	a, b := HashToken("token-a"), HashToken("token-b")
	return &fakeStore{
		sessions: map[string]Session{
			string(a): {ID: 1, UserID: 7, TokenHash: a, ExpiresAt: t0.Add(time.Hour)},
			string(b): {ID: 2, UserID: 8, TokenHash: b, ExpiresAt: t0.Add(time.Hour)},
		},
		owns: map[string]bool{},
	}, a, b
}

func TestCachedStoreSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)}
	session := func(c *CachedStore, h []byte) error {
		_, _, err := c.Session(ctx, h, clk.now())
		return err
	}
	for _, tt := range []struct {
		name      string
		live      bool
		between   func(c *CachedStore, f *fakeStore, a []byte)
		wantReads int   // store reads over two lookups of token a
		wantErr   error // of the second lookup
	}{
		{"not live: every lookup reads", false, func(*CachedStore, *fakeStore, []byte) {}, 2, nil},
		{"live: the second lookup is a hit", true, func(*CachedStore, *fakeStore, []byte) {}, 1, nil},
		{"logout in this process revokes at once", true, func(c *CachedStore, _ *fakeStore, a []byte) {
			if err := c.DeleteSession(ctx, a); err != nil {
				t.Fatal(err)
			}
		}, 2, ErrUnauthenticated},
		{"another process's logout, once announced", true, func(c *CachedStore, f *fakeStore, a []byte) {
			delete(f.sessions, string(a))
			c.ForgetUser(7)
		}, 2, ErrUnauthenticated},
		{"another user's change keeps the entry", true, func(c *CachedStore, _ *fakeStore, _ []byte) { c.ForgetUser(8) }, 1, nil},
		{"notifications lost", true, func(c *CachedStore, f *fakeStore, a []byte) {
			delete(f.sessions, string(a))
			c.SetLive(false)
		}, 2, ErrUnauthenticated},
		{"expired meanwhile", true, func(*CachedStore, *fakeStore, []byte) { clk.t = clk.t.Add(2 * time.Hour) }, 2, ErrUnauthenticated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk.t = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
			f, a, _ := newFake(clk.t)
			c := NewCachedStore(f, CacheConfig{Now: clk.now})
			c.SetLive(tt.live)
			if err := session(c, a); err != nil {
				t.Fatal(err)
			}
			tt.between(c, f, a)
			if err := session(c, a); !errors.Is(err, tt.wantErr) {
				t.Fatalf("second lookup: %v, want %v", err, tt.wantErr)
			}
			if f.reads != tt.wantReads {
				t.Fatalf("%d store reads, want %d", f.reads, tt.wantReads)
			}
		})
	}
}

func TestCachedStoreTTL(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)}
	f, a, _ := newFake(clk.t)
	c := NewCachedStore(f, CacheConfig{TTL: time.Minute, Now: clk.now})
	c.SetLive(true)
	for range 3 {
		if _, _, err := c.Session(context.Background(), a, clk.now()); err != nil {
			t.Fatal(err)
		}
	}
	clk.t = clk.t.Add(time.Minute)
	if _, _, err := c.Session(context.Background(), a, clk.now()); err != nil {
		t.Fatal(err)
	}
	if f.reads != 2 {
		t.Fatalf("%d reads, want 2 (one at first, one after the TTL)", f.reads)
	}
}

// A read that began before a revocation must not put its stale answer in
// the cache.
func TestCachedStoreRevocationDuringRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	f, a, _ := newFake(now)
	c := NewCachedStore(f, CacheConfig{Now: func() time.Time { return now }})
	c.SetLive(true)
	f.duringRead = func() { f.duringRead = nil; c.ForgetUser(7) } // the logout commits while we read
	if _, _, err := c.Session(ctx, a, now); err != nil {
		t.Fatal(err) // read before the logout: still valid for this request
	}
	delete(f.sessions, string(a))
	if _, _, err := c.Session(ctx, a, now); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("after the logout: %v, want ErrUnauthenticated", err)
	}
}

func TestCachedStoreOwnership(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	f, _, _ := newFake(now)
	c := NewCachedStore(f, CacheConfig{Now: func() time.Time { return now }})
	c.SetLive(true)
	const iccid = "8944100000000000018"
	for range 2 {
		if ok, err := c.OwnsSIM(ctx, 7, iccid); err != nil || ok {
			t.Fatalf("before the claim: %v, %v", ok, err)
		}
	}
	if f.reads != 1 {
		t.Fatalf("%d reads, want 1", f.reads)
	}
	if err := c.ClaimSIM(ctx, 7, iccid); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.OwnsSIM(ctx, 7, iccid); err != nil || !ok {
		t.Fatalf("after the claim: %v, %v", ok, err)
	}
	// Many ICCIDs that are not the user's do not grow the cache past its bound.
	for i := range 2 * maxOwnsPerUser {
		if _, err := c.OwnsSIM(ctx, 7, "89441000000000"+string(rune('a'+i%26))+string(rune('a'+i/26))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.users[7].owns); n > maxOwnsPerUser {
		t.Fatalf("%d ownership answers cached for one user, want at most %d", n, maxOwnsPerUser)
	}
}

func TestCachedStoreMaxUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	f, a, b := newFake(now)
	c := NewCachedStore(f, CacheConfig{MaxUsers: 1, Now: func() time.Time { return now }})
	c.SetLive(true)
	for _, h := range [][]byte{a, b, a, b} {
		if _, _, err := c.Session(ctx, h, now); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.users) != 1 || len(c.sess) != 1 {
		t.Fatalf("%d users and %d sessions cached, want 1 and 1", len(c.users), len(c.sess))
	}
}

// A user who logs in again and again (a script that logs in on every run)
// opens a session each time; each one read once must not stay cached until
// the user is forgotten, which may be when the first of them expires, a
// month later.
func TestCachedStoreSessionsPerUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	f, _, _ := newFake(now)
	c := NewCachedStore(f, CacheConfig{Now: func() time.Time { return now }})
	c.SetLive(true)
	var last []byte
	for i := range 10 * maxSessionsPerUser {
		h := HashToken(fmt.Sprintf("login-%d", i))
		f.sessions[string(h)] = Session{ID: int64(100 + i), UserID: 7, TokenHash: h, ExpiresAt: now.Add(30 * 24 * time.Hour)}
		if _, _, err := c.Session(ctx, h, now); err != nil {
			t.Fatal(err)
		}
		last = h
	}
	if n, m := len(c.sess), len(c.users[7].tokens); n > maxSessionsPerUser || m > maxSessionsPerUser {
		t.Fatalf("%d sessions cached (%d tokens listed) for one user, want at most %d", n, m, maxSessionsPerUser)
	}
	reads := f.reads
	if _, _, err := c.Session(ctx, last, now); err != nil {
		t.Fatal(err)
	}
	if f.reads != reads {
		t.Fatalf("the newest session was read from the store again: it should still be cached")
	}
}
