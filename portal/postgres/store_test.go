package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/portal"
	"github.com/simcore/simcore/portal/postgres"
)

// newStore gives the test a database of its own with the portal's schema.
func newStore(t *testing.T) (context.Context, *postgres.Store) {
	t.Helper()
	url := testenv.Postgres(t, "portal_store", postgres.MigrationsVersion(), postgres.Migrate)
	ctx := testenv.Context(t, time.Minute)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return ctx, postgres.New(pool)
}

var n atomic.Int64

const fakeHash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"

func newUser(t *testing.T, ctx context.Context, s *postgres.Store) portal.User {
	t.Helper()
	u := portal.User{Email: fmt.Sprintf("user%d@example.com", n.Add(1)), Name: "Noa", Language: "he"}
	if err := s.CreateUser(ctx, &u, fakeHash); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

func hashOf(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func TestUsers(t *testing.T) {
	t.Parallel()
	ctx, s := newStore(t)
	u := newUser(t, ctx, s)
	dup := portal.User{Email: u.Email, Name: "Other", Language: "en"}
	if err := s.CreateUser(ctx, &dup, fakeHash); !errors.Is(err, portal.ErrEmailTaken) {
		t.Fatalf("second user with %s: %v, want ErrEmailTaken", u.Email, err)
	}
	got, hash, err := s.UserByEmail(ctx, u.Email)
	if err != nil || got.ID != u.ID || hash != fakeHash {
		t.Fatalf("UserByEmail = %+v, %q, %v", got, hash, err)
	}
	if _, _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, portal.ErrUserNotFound) {
		t.Fatalf("UserByEmail(unknown): %v", err)
	}
	lang := "da"
	got, err = s.UpdateProfile(ctx, u.ID, portal.ProfileChange{Language: &lang})
	if err != nil || got.Language != "da" || got.Name != "Noa" {
		t.Fatalf("UpdateProfile = %+v, %v; want language da, name kept", got, err)
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	ctx, s := newStore(t)
	u := newUser(t, ctx, s)
	now := time.Now()
	live := portal.Session{UserID: u.ID, TokenHash: hashOf("live"), CSRFHash: hashOf("c"), ExpiresAt: now.Add(time.Hour)}
	other := portal.Session{UserID: u.ID, TokenHash: hashOf("other"), CSRFHash: hashOf("c"), ExpiresAt: now.Add(time.Hour)}
	expired := portal.Session{UserID: u.ID, TokenHash: hashOf("old"), CSRFHash: hashOf("c"), ExpiresAt: now.Add(-time.Second)}
	for _, x := range []*portal.Session{&live, &other} {
		if err := s.CreateSession(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if got, gu, err := s.Session(ctx, live.TokenHash, now); err != nil || got.ID != live.ID || gu.ID != u.ID {
		t.Fatalf("Session(live) = %+v, %+v, %v", got, gu, err)
	}
	// A password change keeps the session it was made in and ends the rest.
	if err := s.SetPassword(ctx, u.ID, fakeHash, live.TokenHash); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, live.TokenHash, now); err != nil {
		t.Fatalf("kept session: %v", err)
	}
	if _, _, err := s.Session(ctx, other.TokenHash, now); !errors.Is(err, portal.ErrUnauthenticated) {
		t.Fatalf("other session after password change: %v", err)
	}
	if err := s.CreateSession(ctx, &expired); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, expired.TokenHash, now); !errors.Is(err, portal.ErrUnauthenticated) {
		t.Fatalf("Session(expired): %v", err)
	}
	if err := s.DeleteSession(ctx, live.TokenHash); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, live.TokenHash, now); !errors.Is(err, portal.ErrUnauthenticated) {
		t.Fatalf("deleted session: %v", err)
	}
	if n, err := s.DeleteExpired(ctx, now); err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want the expired session", n, err)
	}
}

// TestResetTokenIsSingleUse uses one token from many goroutines at once:
// exactly one wins.
func TestResetTokenIsSingleUse(t *testing.T) {
	t.Parallel()
	ctx, s := newStore(t)
	u := newUser(t, ctx, s)
	sess := portal.Session{UserID: u.ID, TokenHash: hashOf("s"), CSRFHash: hashOf("c"), ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.CreateSession(ctx, &sess); err != nil {
		t.Fatal(err)
	}
	tok := portal.OneTimeToken{Kind: portal.TokenPasswordReset, Hash: hashOf("reset"), UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := s.ResetPassword(ctx, tok.Hash, fakeHash+"x", time.Now())
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, portal.ErrTokenInvalid):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d resets succeeded with one token, want 1", wins.Load())
	}
	if _, _, err := s.Session(ctx, sess.TokenHash, time.Now()); !errors.Is(err, portal.ErrUnauthenticated) {
		t.Fatalf("session after reset: %v; want ended", err)
	}
	expired := portal.OneTimeToken{Kind: portal.TokenPasswordReset, Hash: hashOf("late"), UserID: u.ID, ExpiresAt: time.Now().Add(-time.Second)}
	if err := s.CreateToken(ctx, expired); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResetPassword(ctx, expired.Hash, fakeHash, time.Now()); !errors.Is(err, portal.ErrTokenInvalid) {
		t.Fatalf("expired token: %v", err)
	}
	// A verification token is not a reset token.
	verify := portal.OneTimeToken{Kind: portal.TokenEmailVerification, Hash: hashOf("verify"), UserID: u.ID, Email: "new@example.com", ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.CreateToken(ctx, verify); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResetPassword(ctx, verify.Hash, fakeHash, time.Now()); !errors.Is(err, portal.ErrTokenInvalid) {
		t.Fatalf("verification token used as reset: %v", err)
	}
	got, err := s.ConfirmEmail(ctx, verify.Hash, time.Now())
	if err != nil || got.Email != "new@example.com" {
		t.Fatalf("ConfirmEmail = %+v, %v", got, err)
	}
}

func TestClaimSIM(t *testing.T) {
	t.Parallel()
	ctx, s := newStore(t)
	a, b := newUser(t, ctx, s), newUser(t, ctx, s)
	const iccid = "899720100000000001"
	if err := s.ClaimSIM(ctx, a.ID, iccid); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimSIM(ctx, a.ID, iccid); !errors.Is(err, portal.ErrSIMAlreadyAdded) {
		t.Fatalf("claim again: %v", err)
	}
	if err := s.ClaimSIM(ctx, b.ID, iccid); !errors.Is(err, portal.ErrActivationFailed) {
		t.Fatalf("claim of another's SIM: %v", err)
	}
	if err := s.ReleaseSIM(ctx, b.ID, iccid); !errors.Is(err, portal.ErrSIMNotOwned) {
		t.Fatalf("release of another's SIM: %v", err)
	}
	if ok, _ := s.OwnsSIM(ctx, b.ID, iccid); ok {
		t.Fatal("b owns a's SIM")
	}
	if err := s.ReleaseSIM(ctx, a.ID, iccid); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimSIM(ctx, b.ID, iccid); err != nil {
		t.Fatalf("claim of a released SIM: %v", err)
	}
	sims, err := s.SIMs(ctx, b.ID)
	if err != nil || len(sims) != 1 || sims[0].ICCID != iccid {
		t.Fatalf("SIMs(b) = %+v, %v", sims, err)
	}
}

func TestDevices(t *testing.T) {
	t.Parallel()
	ctx, s := newStore(t)
	u, other := newUser(t, ctx, s), newUser(t, ctx, s)
	now := time.Now()
	add := func(user int64, name string, expires time.Time) {
		t.Helper()
		if err := s.AddDevice(ctx, portal.Device{UserID: user, TokenHash: hashOf(name), ExpiresAt: expires}, 3); err != nil {
			t.Fatalf("AddDevice %s: %v", name, err)
		}
	}
	owner := func(name string, at time.Time) string {
		t.Helper()
		email, err := s.DeviceOwner(ctx, hashOf(name), at)
		if err != nil {
			t.Fatalf("DeviceOwner %s: %v", name, err)
		}
		return email
	}
	add(u.ID, "phone", now.Add(time.Hour))
	add(other.ID, "laptop", now.Add(time.Hour))
	add(u.ID, "old", now.Add(-time.Second))
	if got := owner("phone", now); got != u.Email {
		t.Errorf("owner of phone %q, want %q", got, u.Email)
	}
	if got := owner("laptop", now); got != other.Email {
		t.Errorf("owner of laptop %q, want %q", got, other.Email)
	}
	if got := owner("old", now); got != "" {
		t.Errorf("expired device owned by %q, want none", got)
	}
	if got := owner("phone", now.Add(2*time.Hour)); got != "" {
		t.Errorf("phone after its expiry owned by %q, want none", got)
	}
	if got := owner("never added", now); got != "" {
		t.Errorf("unknown device owned by %q", got)
	}
	// The owner follows a confirmed change of e-mail: it is read, not copied.
	if err := s.CreateToken(ctx, portal.OneTimeToken{Hash: hashOf("verify"), Kind: portal.TokenEmailVerification, UserID: u.ID,
		Email: "renamed" + u.Email, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfirmEmail(ctx, hashOf("verify"), now); err != nil {
		t.Fatal(err)
	}
	if got := owner("phone", now); got != "renamed"+u.Email {
		t.Errorf("owner after the e-mail change %q", got)
	}

	// keep 3: a fourth and fifth device of u push out its two oldest
	// (phone, old); other's device is untouched.
	add(u.ID, "tablet", now.Add(time.Hour))
	add(u.ID, "desktop", now.Add(time.Hour))
	add(u.ID, "watch", now.Add(time.Hour))
	for name, want := range map[string]bool{"phone": false, "tablet": true, "desktop": true, "watch": true, "laptop": true} {
		if got := owner(name, now) != ""; got != want {
			t.Errorf("device %s known = %v, want %v", name, got, want)
		}
	}

	add(u.ID, "expiring", now.Add(time.Minute)) // pushes out tablet
	n, err := s.DeleteExpired(ctx, now.Add(30*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want the one expired device", n, err)
	}
	if got := owner("watch", now); got == "" {
		t.Error("DeleteExpired took a live device")
	}

	// A new password forgets the user's devices, changed or reset.
	if err := s.SetPassword(ctx, u.ID, fakeHash, nil); err != nil {
		t.Fatal(err)
	}
	if got := owner("watch", now); got != "" {
		t.Errorf("device known after a password change, owned by %q", got)
	}
	if got := owner("laptop", now); got != other.Email {
		t.Errorf("another user's device after the change: owner %q", got)
	}
	if err := s.CreateToken(ctx, portal.OneTimeToken{Hash: hashOf("reset"), Kind: portal.TokenPasswordReset, UserID: other.ID,
		ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResetPassword(ctx, hashOf("reset"), fakeHash, now); err != nil {
		t.Fatal(err)
	}
	if got := owner("laptop", now); got != "" {
		t.Errorf("device known after a password reset, owned by %q", got)
	}
}
