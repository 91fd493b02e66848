package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/portal"
	"github.com/simcore/simcore/portal/postgres"
)

// announced forwards to a real cache and reports each forgotten user, so a
// test waits for the notification itself rather than for time to pass.
type announced struct {
	*portal.CachedStore
	forgot chan int64
	live   chan bool
}

func (a *announced) ForgetUser(id int64) { a.CachedStore.ForgetUser(id); a.forgot <- id }
func (a *announced) SetLive(live bool)   { a.CachedStore.SetLive(live); a.live <- live }

// await waits for the notification that forgets user.
func (a *announced) await(t *testing.T, ctx context.Context, user int64, what string) {
	t.Helper()
	for {
		select {
		case id := <-a.forgot:
			if id == user {
				return
			}
		case <-ctx.Done():
			t.Fatalf("%s: user %d never announced", what, user)
		}
	}
}

// TestFollowUsers: every change that ends a session or changes what it may
// see, committed by another process (here the plain store), reaches a
// cache through the triggers' notifications.
func TestFollowUsers(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t, "portal_store", postgres.MigrationsVersion(), postgres.Migrate)
	ctx := testenv.Context(t, time.Minute)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	other := postgres.New(pool) // another portal process
	a := &announced{
		CachedStore: portal.NewCachedStore(postgres.New(pool), portal.CacheConfig{}),
		forgot:      make(chan int64, 100), live: make(chan bool, 10),
	}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- postgres.FollowUsers(fctx, pool, a, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("FollowUsers: %v", err)
		}
	})
	if !<-a.live {
		t.Fatal("not live")
	}

	u := newUser(t, ctx, other)
	_, hash := portal.NewToken()
	s := portal.Session{UserID: u.ID, TokenHash: hash, CSRFHash: hashOf("csrf"), ExpiresAt: time.Now().Add(time.Hour)}
	if err := other.CreateSession(ctx, &s); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Session(ctx, hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := other.DeleteSession(ctx, hash); err != nil {
		t.Fatal(err)
	}
	a.await(t, ctx, u.ID, "logout")
	if _, _, err := a.Session(ctx, hash, time.Now()); !errors.Is(err, portal.ErrUnauthenticated) {
		t.Fatalf("session after another process's logout: %v, want ErrUnauthenticated", err)
	}

	const iccid = "8944100000000000018"
	if ok, err := a.OwnsSIM(ctx, u.ID, iccid); err != nil || ok {
		t.Fatalf("OwnsSIM before the claim: %v, %v", ok, err)
	}
	for _, ch := range []struct {
		name string
		do   func() error
	}{
		{"claim", func() error { return other.ClaimSIM(ctx, u.ID, iccid) }},
		{"release", func() error { return other.ReleaseSIM(ctx, u.ID, iccid) }},
		{"profile", func() error {
			n := "Noa B"
			_, err := other.UpdateProfile(ctx, u.ID, portal.ProfileChange{Name: &n})
			return err
		}},
		{"password", func() error {
			s := portal.Session{UserID: u.ID, TokenHash: hashOf(u.Email + "2"), CSRFHash: hashOf("c"), ExpiresAt: time.Now().Add(time.Hour)}
			if err := other.CreateSession(ctx, &s); err != nil {
				return err
			}
			return other.SetPassword(ctx, u.ID, fakeHash, nil)
		}},
		{"expiry sweep", func() error {
			s := portal.Session{UserID: u.ID, TokenHash: hashOf(u.Email + "3"), CSRFHash: hashOf("c"), ExpiresAt: time.Now().Add(time.Millisecond)}
			if err := other.CreateSession(ctx, &s); err != nil {
				return err
			}
			_, err := other.DeleteExpired(ctx, s.ExpiresAt.Add(time.Second))
			return err
		}},
	} {
		if err := ch.do(); err != nil {
			t.Fatalf("%s: %v", ch.name, err)
		}
		a.await(t, ctx, u.ID, ch.name)
		if ch.name == "claim" {
			if ok, err := a.OwnsSIM(ctx, u.ID, iccid); err != nil || !ok {
				t.Fatalf("OwnsSIM after another process's claim: %v, %v", ok, err)
			}
		}
	}
}
