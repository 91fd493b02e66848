package postgres_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/portal"
)

// gateHasher is a password hasher ("$argon2id$fake$" + password) whose Verify of a
// login waits at a gate: it stands for argon2id's tens of milliseconds,
// during which another request can change the password.
type gateHasher struct {
	verifying chan struct{} // a Verify has read the hash it checks
	release   chan struct{} // let it answer
}

const hashPrefix = "$argon2id$fake$"

func (gateHasher) Hash(p string) (string, error) { return hashPrefix + p, nil }

func (h gateHasher) Verify(p, enc string) (bool, error) {
	if p == "old password 1" && h.verifying != nil {
		h.verifying <- struct{}{}
		<-h.release
	}
	return enc == hashPrefix+p, nil
}

type okLimiter struct{}

func (okLimiter) Take(context.Context, string, portal.Limit) (bool, time.Duration, error) {
	return true, 0, nil
}
func (okLimiter) Refund(context.Context, string) error { return nil }

type nopMailer struct{}

func (nopMailer) SendEmail(context.Context, portal.Email) error { return nil }

// TestLoginRacingPasswordReset: a login that checked the old password
// while a reset replaced it must not leave a session behind. A reset ends
// every session of the user (the account may be in someone else's hands);
// a session opened with the old password after that is exactly what it
// was meant to end. Both a reset (by token) and a change from another
// session are tried.
func TestLoginRacingPasswordReset(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"reset", "change"} {
		t.Run(how, func(t *testing.T) {
			ctx, s := newStore(t)
			h := gateHasher{verifying: make(chan struct{}), release: make(chan struct{})}
			acc, err := portal.New(portal.Config{Store: s, Hasher: h, Limiter: okLimiter{}, Mailer: nopMailer{},
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			u, err := acc.Register(ctx, portal.Registration{Email: strings.ToLower(how) + "@example.com", Password: "old password 1", Name: "Noa", AcceptedTerms: true}, "192.0.2.7")
			if err != nil {
				t.Fatal(err)
			}
			// The owner's own session, from before (for the change).
			own := portal.Session{UserID: u.ID, TokenHash: hashOf("own-" + how), CSRFHash: hashOf("c"), ExpiresAt: time.Now().Add(time.Hour)}
			if err := s.CreateSession(ctx, &own); err != nil {
				t.Fatal(err)
			}

			type login struct {
				g   portal.Grant
				err error
			}
			done := make(chan login, 1)
			go func() {
				_, g, err := acc.Login(ctx, u.Email, "old password 1", "192.0.2.7", "")
				done <- login{g, err}
			}()
			<-h.verifying // the attacker's login has read the old hash

			switch how {
			case "reset":
				tok := portal.OneTimeToken{Kind: portal.TokenPasswordReset, Hash: hashOf("reset-tok"), UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}
				if err := s.CreateToken(ctx, tok); err != nil {
					t.Fatal(err)
				}
				if _, err := s.ResetPassword(ctx, tok.Hash, hashPrefix+"new password 2", time.Now()); err != nil {
					t.Fatal(err)
				}
			case "change":
				if err := s.SetPassword(ctx, u.ID, hashPrefix+"new password 2", own.TokenHash); err != nil {
					t.Fatal(err)
				}
			}
			close(h.release)
			l := <-done
			if l.err != nil {
				if errors.Is(l.err, portal.ErrBadCredentials) {
					return // refused: fine
				}
				t.Fatalf("login: %v", l.err)
			}
			if _, _, err := acc.Authenticate(ctx, l.g.Token); !errors.Is(err, portal.ErrUnauthenticated) {
				t.Fatalf("a session opened with the old password outlived the password %s (authenticate: %v)", how, err)
			}
		})
	}
}
