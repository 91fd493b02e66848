package http_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestEveryRouteIsAuthorized asks every route of the API as a second user
// about the first user's SIM, subscription and request, and without
// credentials. Another user's things are 404, never data; without a
// session every private route is 401. The table must cover every route the
// mux serves: a new route without a row fails the test.
func TestEveryRouteIsAuthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, bob := e.user(), e.user()
	l := e.line()
	alice.addCard(l.iccid)
	spare := e.card()
	alice.addCard(spare)
	sub := "/v1/subscriptions/" + strconv.FormatInt(l.id, 10)
	var req requestJSON
	alice.must(http.StatusAccepted, "PUT", sub+"/voicemail", map[string]any{"enabled": true, "language": "en"}).decode(t, &req)
	newCard := e.card()
	// A valid voucher: bob must not be able to spend it on alice's SIM.
	voucher := e.voucher("10.00")

	const (
		notFound = http.StatusNotFound
		own      = 0 // bob gets his own data: the answer must not hold alice's
	)
	rows := []struct {
		route  string // the mux pattern
		path   string
		body   any
		public bool
		status int    // bob's status (own: 2xx about himself)
		code   string // bob's problem code
	}{
		{route: "GET /v1/openapi.json", path: "/v1/openapi.json", public: true, status: own},
		{route: "POST /v1/auth/register", public: true},
		{route: "POST /v1/auth/login", public: true},
		{route: "POST /v1/auth/password/forgot", public: true},
		{route: "POST /v1/auth/password/reset", public: true},
		{route: "POST /v1/auth/email/verify", public: true},

		{route: "GET /v1/me", path: "/v1/me", status: own},
		{route: "PATCH /v1/me", path: "/v1/me", body: map[string]string{"name": "Bob"}, status: own},
		{route: "PUT /v1/me/password", path: "/v1/me/password", body: map[string]string{"current_password": "wrong password x", "new_password": "another password"}, status: http.StatusForbidden, code: "wrong_password"},
		{route: "POST /v1/me/email", path: "/v1/me/email", body: map[string]string{"email": alice.user.Email}, status: http.StatusConflict, code: "email_taken"},
		{route: "POST /v1/auth/logout", path: "/v1/auth/logout", status: -1}, // run last for bob: ends his session

		{route: "GET /v1/sims", path: "/v1/sims", status: own},
		{route: "POST /v1/sims", path: "/v1/sims", body: map[string]string{"iccid": spare, "activation_code": codeOf(spare)}, status: http.StatusUnprocessableEntity, code: "activation_failed"},
		{route: "GET /v1/sims/{iccid}", path: "/v1/sims/" + l.iccid, status: notFound, code: "sim_not_found"},
		{route: "DELETE /v1/sims/{iccid}", path: "/v1/sims/" + spare, status: notFound, code: "sim_not_found"},
		{route: "GET /v1/sims/{iccid}/usage", path: "/v1/sims/" + l.iccid + "/usage", status: notFound, code: "sim_not_found"},
		{route: "GET /v1/sims/{iccid}/sessions", path: "/v1/sims/" + l.iccid + "/sessions", status: notFound, code: "sim_not_found"},
		{route: "GET /v1/sims/{iccid}/balance", path: "/v1/sims/" + l.iccid + "/balance", status: notFound, code: "sim_not_found"},
		{route: "POST /v1/sims/{iccid}/topups", path: "/v1/sims/" + l.iccid + "/topups", body: map[string]string{"voucher_code": voucher}, status: notFound, code: "sim_not_found"},

		{route: "GET /v1/subscriptions", path: "/v1/subscriptions", status: own},
		{route: "GET /v1/subscriptions/{id}", path: sub, status: notFound, code: "subscription_not_found"},
		{route: "GET /v1/subscriptions/{id}/requests", path: sub + "/requests", status: notFound, code: "subscription_not_found"},
		{route: "POST /v1/subscriptions/{id}/sim-swap", path: sub + "/sim-swap", body: map[string]string{"new_iccid": newCard, "activation_code": codeOf(newCard)}, status: notFound, code: "subscription_not_found"},
		{route: "PUT /v1/subscriptions/{id}/voicemail", path: sub + "/voicemail", body: map[string]any{"enabled": false, "language": "en"}, status: notFound, code: "subscription_not_found"},
		{route: "PUT /v1/subscriptions/{id}/forwarding/{condition}", path: sub + "/forwarding/busy", body: map[string]string{"number": "972500000009"}, status: notFound, code: "subscription_not_found"},
		{route: "DELETE /v1/subscriptions/{id}/forwarding/{condition}", path: sub + "/forwarding/busy", status: notFound, code: "subscription_not_found"},
		{route: "POST /v1/subscriptions/{id}/apn-settings", path: sub + "/apn-settings", status: notFound, code: "subscription_not_found"},
		{route: "PUT /v1/subscriptions/{id}/dates", path: sub + "/dates", body: map[string]string{"start": "2099-01-01"}, status: notFound, code: "subscription_not_found"},

		{route: "GET /v1/requests/{id}", path: "/v1/requests/" + req.ID, status: notFound, code: "request_not_found"},
	}

	var covered []string
	for _, r := range rows {
		covered = append(covered, r.route)
	}
	routes := e.api.Routes()
	slices.Sort(covered)
	slices.Sort(routes)
	if !slices.Equal(covered, routes) {
		t.Fatalf("the table covers %v,\nthe API serves %v", covered, routes)
	}

	secrets := []string{l.iccid, spare, l.msisdn, req.ID, alice.user.Email}
	for _, r := range rows {
		if r.public || r.status == -1 {
			continue
		}
		method := r.route[:strings.IndexByte(r.route, ' ')]
		t.Run("other user "+r.route, func(t *testing.T) {
			res := bob.do(method, r.path, r.body)
			if r.status == own {
				if res.status/100 != 2 {
					t.Fatalf("%d %s", res.status, res.body)
				}
			} else if res.status != r.status || res.problem(t).Code != r.code {
				t.Fatalf("%d %s, want %d %s", res.status, res.body, r.status, r.code)
			}
			for _, s := range secrets {
				if strings.Contains(string(res.body), s) {
					t.Fatalf("the answer holds alice's %q: %s", s, res.body)
				}
			}
		})
		t.Run("no credentials "+r.route, func(t *testing.T) {
			res := e.anon().do(method, r.path, r.body)
			if res.status != http.StatusUnauthorized || res.problem(t).Code != "unauthenticated" || res.header.Get("WWW-Authenticate") == "" {
				t.Fatalf("%d %v %s, want 401 with WWW-Authenticate", res.status, res.header, res.body)
			}
		})
		t.Run("bad token "+r.route, func(t *testing.T) {
			forged := &client{e: e, token: strings.Repeat("A", 43)}
			if res := forged.do(method, r.path, r.body); res.status != http.StatusUnauthorized {
				t.Fatalf("forged token: %d %s", res.status, res.body)
			}
		})
	}
	bob.must(http.StatusNoContent, "POST", "/v1/auth/logout", nil)
	e.anon().must(http.StatusUnauthorized, "POST", "/v1/auth/logout", nil)

	// Nothing bob tried changed alice's things.
	var sims struct {
		SIMs []simJSON `json:"sims"`
	}
	alice.must(http.StatusOK, "GET", "/v1/sims", nil).decode(t, &sims)
	if len(sims.SIMs) != 2 {
		t.Fatalf("alice's SIMs after bob's attempts: %+v", sims)
	}
	var reqs struct {
		Requests []requestJSON `json:"requests"`
	}
	alice.must(http.StatusOK, "GET", sub+"/requests", nil).decode(t, &reqs)
	if len(reqs.Requests) != 1 {
		t.Fatalf("alice's line has %d requests after bob's attempts, want 1", len(reqs.Requests))
	}
	if m, err := e.prov.SIM(e.ctx, newCard); err != nil || m.State != "in_stock" {
		t.Fatalf("the swap target after bob's attempt: %+v, %v", m, err)
	}
}
