package http_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/netsim/mailsink"
	"github.com/simcore/simcore/portal"
	phttp "github.com/simcore/simcore/portal/http"
	"github.com/simcore/simcore/workers/email"
)

// TestSessionsRangeBeyondStorage: a range reaching before 1970 or after
// 2105 is refused (4xx), not answered with an empty page: such bounds
// wrapped around in ClickHouse's DateTime and hid the sessions inside.
func TestSessionsRangeBeyondStorage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	l := e.line()
	c.addCard(l.iccid)
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
	e.writeUsage([]metering.Record{{Type: metering.TypeData, ICCID: l.iccid, StartTime: start,
		BytesUp: 100, BytesDown: 1000, DurationS: 60, NodeID: "n", RecordID: "d1", APN: "internet"}})
	// The default range finds it.
	var page metering.SessionPage
	c.must(http.StatusOK, "GET", "/v1/sims/"+l.iccid+"/sessions", nil).decode(t, &page)
	if len(page.Sessions) != 1 {
		t.Fatalf("default range: %+v, want the session", page)
	}
	for _, q := range []url.Values{
		{"from": {"1969-12-31"}},
		{"from": {"2000-01-01"}, "to": {"2106-03-01"}},
	} {
		t.Run(q.Encode(), func(t *testing.T) {
			r := c.do("GET", "/v1/sims/"+l.iccid+"/sessions?"+q.Encode(), nil)
			if r.status/100 == 4 {
				return // refusing the range would be fine too
			}
			var p metering.SessionPage
			r.decode(t, &p)
			if r.status != http.StatusOK || len(p.Sessions) != 1 {
				t.Fatalf("%d %s: a range holding the session answers without it", r.status, r.body)
			}
		})
	}
}

// TestPasswordChangeNotLockedOutByStrangers: a stranger's wrong logins
// fill the account's login bucket; the logged-in owner can still change
// the password (it used to count in that bucket and get 429).
func TestPasswordChangeNotLockedOutByStrangers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	var g struct {
		Token       string `json:"token"`
		DeviceToken string `json:"device_token"`
	}
	e.anon().must(http.StatusOK, "POST", "/v1/auth/login", map[string]any{"email": c.user.Email, "password": c.password}).decode(t, &g)
	owner := &client{e: e, token: g.Token, user: c.user, password: c.password}

	for range 5 { // a stranger guesses
		e.anon().must(http.StatusUnauthorized, "POST", "/v1/auth/login", map[string]any{"email": c.user.Email, "password": "not the password at all"})
	}
	// The owner's known device is spared, as designed.
	e.anon().must(http.StatusOK, "POST", "/v1/auth/login", map[string]any{"email": c.user.Email, "password": c.password, "device_token": g.DeviceToken})
	// But the owner, logged in, cannot change the password.
	r := owner.do("PUT", "/v1/me/password", map[string]string{"current_password": c.password, "new_password": "a brand new password"})
	if r.status != http.StatusNoContent {
		t.Fatalf("password change by the logged-in owner while a stranger guesses: %d %s, want 204", r.status, r.body)
	}
}

// TestMailFailureKeepsAddressOutOfLog: e-mail addresses are never logged
// (docs/portal.md), also when the SMTP server refuses a mailbox (a typo in
// a new address): go-mail's errors name the recipients, and the error used
// to be logged as it was.
func TestMailFailureKeepsAddressOutOfLog(t *testing.T) {
	t.Parallel()
	const typo = "typo-mailbox@example.com"
	sink, err := mailsink.New(mailsink.Config{RejectRecipients: []string{typo}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withAccounts(func(cfg *portal.Config) {
		if err := sink.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sink.Close() })
		m, err := email.New(email.Config{Addr: sink.Addr(), From: "simcore <noreply@simcore.example>", TLS: email.TLSNone,
			Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Mailer = phttp.Mailer(m)
	}))
	c := e.user()
	c.must(http.StatusAccepted, "POST", "/v1/me/email", map[string]string{"email": typo})
	e.accounts.Wait()
	logs := e.logs.String()
	if !strings.Contains(logs, "send account email") {
		t.Fatalf("no failure logged at all:\n%s", logs)
	}
	if strings.Contains(logs, typo) {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, typo) {
				t.Errorf("an e-mail address is in the log: %s", line)
			}
		}
	}
}

// TestSIMSwapRaceKeepsReservedCard: two swaps to the same new card (two
// lines of one user; a double-submitted form does the same): the first
// claims the card, the second finds it claimed and reserves it for its
// swap, then the first fails (the card is no longer in stock). The card
// stays on the user's account; undoing the claim used to hand the card a
// line is moving to to anyone with its code.
func TestSIMSwapRaceKeepsReservedCard(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, other := e.user(), e.user()
	l1, l2 := e.line(), e.line()
	c.addCard(l1.iccid)
	c.addCard(l2.iccid)
	next := e.card()
	swap := func(l line) string { return "/v1/subscriptions/" + strconv.FormatInt(l.id, 10) + "/sim-swap" }
	body := map[string]string{"new_iccid": next, "activation_code": codeOf(next)}

	// Hold line 1's row so the first swap stops after its claim, at the
	// INSERT of its request (the foreign key check waits).
	tx, err := e.pool.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(e.ctx)
	if _, err := tx.Exec(e.ctx, `SELECT 1 FROM subscriptions WHERE id = $1 FOR UPDATE`, l1.id); err != nil {
		t.Fatal(err)
	}
	first := make(chan response, 1)
	go func() { first <- c.do("POST", swap(l1), body) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var n int
		if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO provisioning_requests%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first swap never waited at its INSERT")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The second swap, of line 2 to the same card, is accepted.
	c.must(http.StatusAccepted, "POST", swap(l2), body)
	if err := tx.Rollback(e.ctx); err != nil {
		t.Fatal(err)
	}
	r := <-first
	if r.status != http.StatusConflict {
		t.Fatalf("first swap: %d %s, want 409", r.status, r.body)
	}
	if s, err := e.prov.SIM(e.ctx, next); err != nil || s.State != "reserved" {
		t.Fatalf("new card %+v %v, want reserved for line 2's swap", s, err)
	}
	// The card line 2 is moving to must still be the user's ...
	if r := c.do("GET", "/v1/sims/"+next, nil); r.status != http.StatusOK {
		t.Errorf("GET the card line 2 is swapping to: %d %s, want 200", r.status, r.body)
	}
	// ... and nobody else's to claim.
	if r := other.do("POST", "/v1/sims", map[string]string{"iccid": next, "activation_code": codeOf(next)}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("another user claims the card of a pending swap: %d %s, want 422 activation_failed", r.status, r.body)
	}
}

// TestPasswordChangeVoidsResetTokens: a reset link mailed before a
// password change no longer works after it (it used to set a new password
// and end the session the change kept).
func TestPasswordChangeVoidsResetTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	e.anon().must(http.StatusAccepted, "POST", "/v1/auth/password/forgot", map[string]string{"email": c.user.Email})
	token := tokenIn(t, e.mailTo(c.user.Email))

	c.must(http.StatusNoContent, "PUT", "/v1/me/password", map[string]string{"current_password": c.password, "new_password": "my new strong password"})
	r := e.anon().do("POST", "/v1/auth/password/reset", map[string]string{"token": token, "password": "chosen by whoever holds the link"})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("reset token issued before the password change: %d %s, want 422 token_invalid", r.status, r.body)
	}
}
