package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/simcore/simcore/portal"
	phttp "github.com/simcore/simcore/portal/http"
)

func TestRegisterLoginLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()

	var me struct {
		portal.User
		SessionExpiresAt string `json:"session_expires_at"`
	}
	c.must(http.StatusOK, "GET", "/v1/me", nil).decode(t, &me)
	if me.ID != c.user.ID || me.Email != c.user.Email || me.Language != "en" || me.SessionExpiresAt == "" {
		t.Fatalf("GET /v1/me = %+v, want the registered user", me)
	}
	if strings.Contains(e.logs.String(), c.password) || strings.Contains(e.logs.String(), c.token) {
		t.Fatal("a password or session token is in the log")
	}

	// Emails are compared as stored: lower case, trimmed.
	again := &client{e: e, user: c.user, password: c.password}
	again.user.Email = "  " + strings.ToUpper(c.user.Email) + " "
	again.login()

	c.must(http.StatusNoContent, "POST", "/v1/auth/logout", nil)
	if p := c.must(http.StatusUnauthorized, "GET", "/v1/me", nil).problem(t); p.Code != "unauthenticated" {
		t.Fatalf("after logout: code %q", p.Code)
	}
	// The other session is still live.
	again.must(http.StatusOK, "GET", "/v1/me", nil)
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	taken := e.user()
	ok := map[string]any{"email": "new@example.com", "password": "long enough password", "name": "Ada", "accepted_terms": true}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range ok {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tt := range []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"terms not accepted", with("accepted_terms", false), 422, "validation_failed", "accepted_terms"},
		{"terms missing", with("accepted_terms", nil), 422, "validation_failed", "accepted_terms"},
		{"short password", with("password", "short"), 422, "validation_failed", "password"},
		{"bad email", with("email", "not-an-address"), 422, "validation_failed", "email"},
		{"no name", with("name", "  "), 422, "validation_failed", "name"},
		{"unknown language", with("language", "fr"), 422, "validation_failed", "language"},
		{"email taken", with("email", strings.ToUpper(taken.user.Email)), 409, "email_taken", ""},
		{"wrong type", with("accepted_terms", "yes"), 400, "wrong_type", "accepted_terms"},
		{"unknown field", with("admin", true), 400, "unknown_field", "admin"},
		{"malformed", `{"email": "a@b.c",`, 400, "malformed_json", ""},
		{"not an object", `[1,2]`, 400, "wrong_type", ""},
		{"empty", ``, 400, "malformed_json", ""},
		{"two values", `{} {}`, 400, "malformed_json", ""},
		{"too large", `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body_too_large", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.anon().do("POST", "/v1/auth/register", tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			p := r.problem(t)
			if p.Code != tt.code || p.Field != tt.field || p.Status != tt.status || p.RequestID == "" || p.RequestID != r.header.Get("X-Request-Id") {
				t.Fatalf("problem %+v, want code %q field %q and the request id", p, tt.code, tt.field)
			}
		})
	}
	r := e.anon().do("POST", "/v1/auth/register", ok, "Content-Type", "text/plain")
	if r.status != http.StatusUnsupportedMediaType || r.problem(t).Code != "unsupported_media_type" {
		t.Fatalf("text/plain body: %d %s", r.status, r.body)
	}
}

func TestLoginFailuresAreRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	wrong := map[string]any{"email": c.user.Email, "password": "not the password at all"}
	// The helper's successful login was refunded: five wrong attempts fit.
	for i := range 5 {
		r := e.anon().do("POST", "/v1/auth/login", wrong)
		if p := r.problem(t); r.status != 401 || p.Code != "invalid_credentials" {
			t.Fatalf("attempt %d: %d %+v", i+1, r.status, p)
		}
	}
	r := e.anon().do("POST", "/v1/auth/login", map[string]any{"email": c.user.Email, "password": c.password})
	if r.status != http.StatusTooManyRequests || r.problem(t).Code != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("sixth attempt, even with the right password: %d %v %s", r.status, r.header, r.body)
	}
	// An unknown address answers like a wrong password.
	r = e.anon().do("POST", "/v1/auth/login", map[string]any{"email": "nobody@example.com", "password": "whatever password"})
	if r.status != 401 || r.problem(t).Code != "invalid_credentials" {
		t.Fatalf("unknown email: %d %s", r.status, r.body)
	}
}

func TestLoginRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withAccounts(func(c *portal.Config) { c.LoginPerAddress = portal.Limit{N: 3, Window: 60e9} }))
	for i := range 3 {
		if r := e.anon().do("POST", "/v1/auth/login", map[string]any{"email": "x" + string(rune('a'+i)) + "@example.com", "password": "pw pw pw pw pw"}); r.status != 401 {
			t.Fatalf("attempt %d: %d", i, r.status)
		}
	}
	// Other accounts, same address: refused.
	if r := e.anon().do("POST", "/v1/auth/login", map[string]any{"email": "y@example.com", "password": "pw pw pw pw pw"}); r.status != 429 {
		t.Fatalf("fourth attempt from one address: %d %s", r.status, r.body)
	}
}

// TestLoginRateLimitedPerClientBehindProxy: the test client plays a reverse
// proxy on loopback that forwards two clients. When the API trusts it, each
// client has its own per-address bucket, and a client cannot leave its
// bucket by writing X-Forwarded-For itself; when it does not, both share
// the proxy's bucket, and one client's failures lock out the other.
func TestLoginRateLimitedPerClientBehindProxy(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		trusted   string
		wantOther int // the second client's first attempt
	}{
		{"trusted proxy: a bucket per client", "127.0.0.1, ::1", http.StatusUnauthorized},
		{"no trusted proxy: the proxy's bucket", "", http.StatusTooManyRequests},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, withTrustedProxies(t, tt.trusted),
				withAccounts(func(c *portal.Config) { c.LoginPerAddress = portal.Limit{N: 3, Window: 60e9} }))
			attempt := func(email, xff string) response {
				return e.anon().do("POST", "/v1/auth/login", map[string]any{"email": email, "password": "pw pw pw pw pw"}, "X-Forwarded-For", xff)
			}
			const attacker, other = "203.0.113.9", "198.51.100.7"
			for i := range 3 {
				if r := attempt("x"+string(rune('a'+i))+"@example.com", attacker); r.status != http.StatusUnauthorized {
					t.Fatalf("attacker's attempt %d: %d %s", i+1, r.status, r.body)
				}
			}
			if r := attempt("y@example.com", attacker); r.status != http.StatusTooManyRequests || r.problem(t).Code != "rate_limited" {
				t.Fatalf("attacker's fourth attempt: %d %s", r.status, r.body)
			}
			// The proxy appends the attacker's real address to what it wrote.
			if r := attempt("z@example.com", other+", "+attacker); r.status != http.StatusTooManyRequests {
				t.Fatalf("attacker's attempt naming another client on the left: %d %s", r.status, r.body)
			}
			if r := attempt("w@example.com", other); r.status != tt.wantOther {
				t.Fatalf("other client's first attempt: %d, want %d; %s", r.status, tt.wantOther, r.body)
			}
		})
	}
}

func TestCookieSessionNeedsCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	r := c.login()
	var session, csrf *http.Cookie
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		switch ck.Name {
		case "simcore_session":
			session = ck
		case "simcore_csrf":
			csrf = ck
		}
	}
	if session == nil || !session.HttpOnly || !session.Secure || session.SameSite != http.SameSiteLaxMode || session.Value != c.token {
		t.Fatalf("session cookie %+v: want HttpOnly, Secure, SameSite=Lax with the token", session)
	}
	if csrf == nil || csrf.HttpOnly || csrf.Value != c.csrf {
		t.Fatalf("csrf cookie %+v: want readable by scripts, with the CSRF token", csrf)
	}
	c.useCookie = true
	name := map[string]string{"name": "Renamed"}
	c.must(http.StatusOK, "GET", "/v1/me", nil) // safe: no token needed

	c.noCSRF = true
	if p := c.must(http.StatusForbidden, "PATCH", "/v1/me", name).problem(t); p.Code != "csrf_failed" {
		t.Fatalf("cookie write without CSRF token: %+v", p)
	}
	if p := c.must(http.StatusForbidden, "PATCH", "/v1/me", name, "X-CSRF-Token", c.token).problem(t); p.Code != "csrf_failed" {
		t.Fatalf("cookie write with the session token as CSRF token: %+v", p)
	}
	c.noCSRF = false
	c.must(http.StatusOK, "PATCH", "/v1/me", name)
	// Bearer requests are exempt.
	c.useCookie = false
	c.must(http.StatusOK, "PATCH", "/v1/me", map[string]string{"name": "Bearer"})
}

func TestProfileAndPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	other := &client{e: e, user: c.user, password: c.password}
	other.login()

	var u portal.User
	c.must(http.StatusOK, "PATCH", "/v1/me", map[string]string{"language": "he", "name": " Noa "}).decode(t, &u)
	if u.Language != "he" || u.Name != "Noa" {
		t.Fatalf("after PATCH: %+v", u)
	}
	if p := c.must(422, "PATCH", "/v1/me", map[string]string{"language": "xx"}).problem(t); p.Field != "language" {
		t.Fatalf("bad language: %+v", p)
	}
	if p := c.must(403, "PUT", "/v1/me/password", map[string]string{"current_password": "wrong wrong wrong", "new_password": "another long password"}).problem(t); p.Code != "wrong_password" {
		t.Fatalf("wrong current password: %+v", p)
	}
	if p := c.must(422, "PUT", "/v1/me/password", map[string]string{"current_password": c.password, "new_password": "short"}).problem(t); p.Field != "new_password" {
		t.Fatalf("short new password: %+v", p)
	}
	c.must(http.StatusNoContent, "PUT", "/v1/me/password", map[string]string{"current_password": c.password, "new_password": "another long password"})
	c.must(http.StatusOK, "GET", "/v1/me", nil) // this session stays
	other.must(http.StatusUnauthorized, "GET", "/v1/me", nil)
	if r := e.anon().do("POST", "/v1/auth/login", map[string]string{"email": c.user.Email, "password": c.password}); r.status != 401 {
		t.Fatalf("old password still logs in: %d", r.status)
	}
	c.password = "another long password"
	c.login()
}

func TestForgotAndResetPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	c.must(http.StatusOK, "PATCH", "/v1/me", map[string]string{"language": "he"})

	known := e.anon().must(http.StatusAccepted, "POST", "/v1/auth/password/forgot", map[string]string{"email": c.user.Email})
	unknown := e.anon().must(http.StatusAccepted, "POST", "/v1/auth/password/forgot", map[string]string{"email": "nobody-here@example.com"})
	if string(known.body) != string(unknown.body) {
		t.Fatalf("forgot-password tells registered (%s) from unknown (%s) addresses", known.body, unknown.body)
	}
	m := e.mailTo(c.user.Email)
	if !strings.Contains(m.Subject, "איפוס") {
		t.Fatalf("reset email subject %q is not in the user's language (he)", m.Subject)
	}
	for _, x := range e.sink.Messages() {
		if x.To[0] == "nobody-here@example.com" {
			t.Fatal("a reset email went to an unregistered address")
		}
	}
	token := tokenIn(t, m)
	if !strings.Contains(m.Text, "https://portal.example/reset-password#token="+token) {
		t.Fatalf("reset email has no link: %q", m.Text)
	}

	if p := e.anon().must(422, "POST", "/v1/auth/password/reset", map[string]string{"token": token, "password": "short"}).problem(t); p.Field != "password" {
		t.Fatalf("short password: %+v", p)
	}
	if p := e.anon().must(422, "POST", "/v1/auth/password/reset", map[string]string{"token": "garbage", "password": "a brand new password"}).problem(t); p.Code != "token_invalid" {
		t.Fatalf("garbage token: %+v", p)
	}
	e.anon().must(http.StatusNoContent, "POST", "/v1/auth/password/reset", map[string]string{"token": token, "password": "a brand new password"})
	if p := e.anon().must(422, "POST", "/v1/auth/password/reset", map[string]string{"token": token, "password": "yet another password"}).problem(t); p.Code != "token_invalid" {
		t.Fatalf("second use of a reset token: %+v", p)
	}
	// The reset ended the sessions; only the new password logs in.
	c.must(http.StatusUnauthorized, "GET", "/v1/me", nil)
	if r := e.anon().do("POST", "/v1/auth/login", map[string]string{"email": c.user.Email, "password": c.password}); r.status != 401 {
		t.Fatalf("old password after reset: %d", r.status)
	}
	c.password = "a brand new password"
	c.login()
	if strings.Contains(e.logs.String(), token) {
		t.Fatal("the reset token is in the log")
	}
}

func TestChangeEmailNeedsVerification(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	taken := e.user()
	if p := c.must(409, "POST", "/v1/me/email", map[string]string{"email": taken.user.Email}).problem(t); p.Code != "email_taken" {
		t.Fatalf("change to a taken address: %+v", p)
	}
	c.must(http.StatusAccepted, "POST", "/v1/me/email", map[string]string{"email": "New.Address@Example.com"})
	var u portal.User
	c.must(http.StatusOK, "GET", "/v1/me", nil).decode(t, &u)
	if u.Email != c.user.Email {
		t.Fatalf("email changed to %s before it was verified", u.Email)
	}
	token := tokenIn(t, e.mailTo("new.address@example.com"))
	e.anon().must(http.StatusOK, "POST", "/v1/auth/email/verify", map[string]string{"token": token}).decode(t, &u)
	if u.Email != "new.address@example.com" {
		t.Fatalf("after verification: %+v", u)
	}
	if p := e.anon().must(422, "POST", "/v1/auth/email/verify", map[string]string{"token": token}).problem(t); p.Code != "token_invalid" {
		t.Fatalf("second verification: %+v", p)
	}
	c.user.Email = "new.address@example.com"
	c.login()
}

// TestLoginRateLimitedPerIPv6Prefix: an IPv6 client is limited by its /64,
// not by each of its 2^64 addresses; another /64 has its own bucket.
func TestLoginRateLimitedPerIPv6Prefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTrustedProxies(t, "127.0.0.1, ::1"),
		withAccounts(func(c *portal.Config) { c.LoginPerAddress = portal.Limit{N: 3, Window: 60e9} }))
	attempt := func(email, client string) response {
		return e.anon().do("POST", "/v1/auth/login", map[string]any{"email": email, "password": "pw pw pw pw pw"}, "X-Forwarded-For", client)
	}
	for i := range 3 {
		if r := attempt("x"+string(rune('a'+i))+"@example.com", fmt.Sprintf("2001:db8:1:2::%x", i+1)); r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d %s", i+1, r.status, r.body)
		}
	}
	if r := attempt("y@example.com", "2001:db8:1:2:ffff::9"); r.status != http.StatusTooManyRequests {
		t.Fatalf("fourth attempt from the same /64: %d %s", r.status, r.body)
	}
	if r := attempt("z@example.com", "2001:db8:1:3::1"); r.status != http.StatusUnauthorized {
		t.Fatalf("first attempt from the next /64: %d %s", r.status, r.body)
	}
}

// TestLoginLockoutSparesKnownDevices: wrong passwords from anywhere lock the
// account for clients it does not know, but a device its owner logged in
// from before (by cookie, or by device_token for clients without cookies)
// counts its attempts apart; a device that guesses wrong locks only itself.
func TestLoginLockoutSparesKnownDevices(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withAccounts(func(c *portal.Config) { c.LoginPerDevice = portal.Limit{N: 3, Window: 600e9} }))
	c, stranger := e.user(), e.user()
	right := map[string]any{"email": c.user.Email, "password": c.password}
	login := func(body map[string]any, hdr ...string) (response, string) {
		r := e.anon().do("POST", "/v1/auth/login", body, hdr...)
		var g struct {
			DeviceToken string `json:"device_token"`
		}
		if r.status == http.StatusOK {
			r.decode(t, &g)
		}
		return r, g.DeviceToken
	}
	with := func(device string) map[string]any {
		return map[string]any{"email": c.user.Email, "password": c.password, "device_token": device}
	}

	// Two devices of the owner; a known one gets no new token.
	r, phone := login(right)
	if r.status != http.StatusOK || phone == "" {
		t.Fatalf("login from a new client: %d, device token %q", r.status, phone)
	}
	var cookie *http.Cookie
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == phttp.DeviceCookie {
			cookie = ck
		}
	}
	if cookie == nil || cookie.Value != phone || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/v1/auth/login" {
		t.Fatalf("device cookie %+v, want the device token, HttpOnly, SameSite=Strict, only for the login", cookie)
	}
	_, laptop := login(right)
	if r, again := login(with(phone)); r.status != http.StatusOK || again != "" {
		t.Fatalf("login from a known device: %d, new token %q (want none)", r.status, again)
	}
	_, strangerDevice := login(map[string]any{"email": stranger.user.Email, "password": stranger.password})

	// Someone else guesses until the account is locked (5 attempts; the
	// logins above were refunded).
	wrong := map[string]any{"email": c.user.Email, "password": "not the password at all"}
	for i := range 5 {
		if r, _ := login(wrong); r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i+1, r.status, r.body)
		}
	}
	for name, body := range map[string]map[string]any{
		"no device":                right,
		"another user's device":    with(strangerDevice),
		"a token never handed out": with("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
		"garbage":                  with("not a token"),
	} {
		if r, _ := login(body); r.status != http.StatusTooManyRequests {
			t.Errorf("%s, right password, account locked: %d %s", name, r.status, r.body)
		}
	}
	// The owner's devices still log in, by body and by cookie.
	if r, _ := login(with(phone)); r.status != http.StatusOK {
		t.Fatalf("known device by device_token while the account is locked: %d %s", r.status, r.body)
	}
	if r, _ := login(right, "Cookie", phttp.DeviceCookie+"="+laptop); r.status != http.StatusOK {
		t.Fatalf("known device by cookie while the account is locked: %d %s", r.status, r.body)
	}

	// A device that guesses wrong locks itself (3 attempts here), not the
	// owner's other device.
	for i := range 3 {
		if r, _ := login(map[string]any{"email": c.user.Email, "password": "wrong wrong wrong", "device_token": phone}); r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d from the phone: %d %s", i+1, r.status, r.body)
		}
	}
	if r, _ := login(with(phone)); r.status != http.StatusTooManyRequests {
		t.Errorf("the phone after its own failures: %d, want 429", r.status)
	}
	if r, _ := login(with(laptop)); r.status != http.StatusOK {
		t.Errorf("the laptop while the phone is locked: %d %s", r.status, r.body)
	}
	// A device is known for its own account only: the phone's token does
	// not spare the stranger's account, nor the stranger's device this one.
	if r, _ := login(map[string]any{"email": stranger.user.Email, "password": stranger.password, "device_token": strangerDevice}); r.status != http.StatusOK {
		t.Errorf("the stranger's own device: %d %s", r.status, r.body)
	}
}
