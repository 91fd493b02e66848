package http_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
)

// TestEmailChangeVoidsResetTokens: a reset link mailed to the old address
// no longer works once the account has moved to a new address. (It used
// to: whoever read the old mailbox could set the password of the account
// its owner had just moved away from it, until the link expired.)
func TestEmailChangeVoidsResetTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	e.anon().must(http.StatusAccepted, "POST", "/v1/auth/password/forgot", map[string]string{"email": c.user.Email})
	reset := tokenIn(t, e.mailTo(c.user.Email))

	c.must(http.StatusAccepted, "POST", "/v1/me/email", map[string]string{"email": "moved-away@example.com"})
	verify := tokenIn(t, e.mailTo("moved-away@example.com"))
	e.anon().must(http.StatusOK, "POST", "/v1/auth/email/verify", map[string]string{"token": verify})

	r := e.anon().do("POST", "/v1/auth/password/reset", map[string]string{"token": reset, "password": "chosen by the old mailbox"})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("reset token mailed to the old address, used after the email change: %d %s, want 422 token_invalid", r.status, r.body)
	}
	c.must(http.StatusOK, "GET", "/v1/me", nil) // the owner's session lives on
}

// wellFormedToken is a token the portal could have issued, but did not.
func wellFormedToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// TestPasswordHashingRoutesAreRateLimited: registration and password
// reset run argon2id (19 MiB, t=2 by default) for anyone, with no session:
// a reset with any well-formed token hashes the new password before the
// store finds the token unknown. Both must be limited per client address
// like logins are, or one client can keep every core and gigabytes of
// memory busy.
func TestPasswordHashingRoutesAreRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tt := range []struct {
		name string
		body func(i int) map[string]any
	}{
		{"POST /v1/auth/password/reset", func(int) map[string]any {
			return map[string]any{"token": wellFormedToken(), "password": "a long enough password"}
		}},
		{"POST /v1/auth/register", func(i int) map[string]any {
			return map[string]any{"email": fmt.Sprintf("flood%d@example.com", i), "password": "a long enough password", "name": "Flood", "accepted_terms": true}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 100 {
				r := e.anon().do("POST", tt.name[len("POST "):], tt.body(i))
				if r.status == http.StatusTooManyRequests {
					if r.problem(t).Code != "rate_limited" || r.header.Get("Retry-After") == "" {
						t.Fatalf("429 without rate_limited and Retry-After: %s", r.body)
					}
					return
				}
				if r.status >= 500 {
					t.Fatalf("%d %s", r.status, r.body)
				}
			}
			t.Fatal("100 password-hashing requests from one address, none limited")
		})
	}
}

// TestEmailChangeMailsAreRateLimitedPerUser: each POST /v1/me/email mails
// a verification code to the address given. The per-address limit (3 an
// hour) stops bombing one mailbox, but a logged-in user could make the
// portal mail any number of other addresses from the operator's domain.
func TestEmailChangeMailsAreRateLimitedPerUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	for i := range 50 {
		r := c.do("POST", "/v1/me/email", map[string]string{"email": fmt.Sprintf("victim%d@example.org", i)})
		if r.status == http.StatusTooManyRequests {
			if r.problem(t).Code != "rate_limited" || r.header.Get("Retry-After") == "" {
				t.Fatalf("429 without rate_limited and Retry-After: %s", r.body)
			}
			return
		}
		if r.status != http.StatusAccepted {
			t.Fatalf("change %d: %d %s", i, r.status, r.body)
		}
	}
	e.accounts.Wait()
	t.Fatalf("one user had the portal mail %d addresses, none limited", len(e.sink.Messages()))
}

// TestEmailAddressLiteralRefused: an address whose domain is an IP
// literal ("[127.0.0.1]") is no subscriber's mailbox; accepting it makes
// the mail relay deliver to whatever host the client names, internal ones
// included.
func TestEmailAddressLiteralRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	for _, addr := range []string{"x@[127.0.0.1]", "x@[10.0.0.1]", "x@[IPv6:::1.2.3.4]"} {
		r := c.do("POST", "/v1/me/email", map[string]string{"email": addr})
		if r.status != http.StatusUnprocessableEntity || r.problem(t).Field != "email" {
			t.Errorf("change to %s: %d %s, want 422 on email", addr, r.status, r.body)
		}
		r = e.anon().do("POST", "/v1/auth/register", map[string]any{"email": addr, "password": "a long enough password", "name": "X", "accepted_terms": true})
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("register %s: %d %s, want 422 on email", addr, r.status, r.body)
		}
	}
}
