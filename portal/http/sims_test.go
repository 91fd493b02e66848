package http_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/portal"
)

type simJSON struct {
	ICCID        string `json:"iccid"`
	State        string `json:"state"`
	Subscription *struct {
		SubscriptionID int64  `json:"subscription_id"`
		MSISDN         string `json:"msisdn"`
		Status         string `json:"status"`
		Plan           string `json:"plan"`
	} `json:"subscription"`
}

func TestAddListRemoveSIM(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	l := e.line()
	spare := e.card()

	var got simJSON
	r := c.must(http.StatusCreated, "POST", "/v1/sims", map[string]string{"iccid": l.iccid, "activation_code": codeOf(l.iccid)})
	r.decode(t, &got)
	if r.header.Get("Location") != "/v1/sims/"+l.iccid {
		t.Fatalf("Location %q", r.header.Get("Location"))
	}
	if got.ICCID != l.iccid || got.State != "active" || got.Subscription == nil ||
		got.Subscription.MSISDN != l.msisdn || got.Subscription.SubscriptionID != l.id || got.Subscription.Plan != e.plan.Name || got.Subscription.Status != "active" {
		t.Fatalf("added SIM %+v (subscription %+v), want %s on line %+v", got, got.Subscription, l.iccid, l)
	}
	c.addCard(spare)

	var list struct {
		SIMs []simJSON `json:"sims"`
	}
	c.must(http.StatusOK, "GET", "/v1/sims", nil).decode(t, &list)
	if len(list.SIMs) != 2 || list.SIMs[0].ICCID != l.iccid || list.SIMs[1].ICCID != spare || list.SIMs[1].Subscription != nil || list.SIMs[1].State != "in_stock" {
		t.Fatalf("SIM list %+v: want the line's SIM, then the spare card without a subscription", list)
	}
	var one simJSON
	c.must(http.StatusOK, "GET", "/v1/sims/"+l.iccid, nil).decode(t, &one)
	if diff := cmp.Diff(got, one); diff != "" {
		t.Fatalf("GET one differs from the POST answer (-post +get):\n%s", diff)
	}

	c.must(http.StatusNoContent, "DELETE", "/v1/sims/"+spare, nil)
	if p := c.must(http.StatusNotFound, "GET", "/v1/sims/"+spare, nil).problem(t); p.Code != "sim_not_found" {
		t.Fatalf("removed SIM: %+v", p)
	}
	c.must(http.StatusOK, "GET", "/v1/sims", nil).decode(t, &list)
	if len(list.SIMs) != 1 {
		t.Fatalf("after removal: %+v", list)
	}
	// Once removed, someone else with the card can claim it.
	e.user().addCard(spare)
}

func TestAddSIMRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner, other := e.user(), e.user()
	mine := e.card()
	owner.addCard(mine)
	unknown := newICCID() // valid, never imported
	free := e.card()

	wrong := other.must(422, "POST", "/v1/sims", map[string]string{"iccid": free, "activation_code": "WRONG-CODE"}).problem(t)
	for _, tt := range []struct {
		name string
		body map[string]string
	}{
		{"unknown card", map[string]string{"iccid": unknown, "activation_code": codeOf(unknown)}},
		{"another user's card, right code", map[string]string{"iccid": mine, "activation_code": codeOf(mine)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := other.must(422, "POST", "/v1/sims", tt.body).problem(t)
			p.RequestID = wrong.RequestID
			if diff := cmp.Diff(wrong, p); diff != "" {
				t.Fatalf("answer differs from a wrong code's (-wrong +got):\n%s", diff)
			}
		})
	}
	if wrong.Code != "activation_failed" {
		t.Fatalf("wrong code: %+v", wrong)
	}
	if p := owner.must(409, "POST", "/v1/sims", map[string]string{"iccid": mine, "activation_code": codeOf(mine)}).problem(t); p.Code != "sim_already_added" {
		t.Fatalf("adding my own SIM again: %+v", p)
	}
	if p := owner.must(422, "POST", "/v1/sims", map[string]string{"iccid": "8997201000000000000", "activation_code": "x"}).problem(t); p.Field != "iccid" {
		t.Fatalf("bad ICCID: %+v", p)
	}
	if p := owner.must(422, "POST", "/v1/sims", map[string]string{"iccid": free}).problem(t); p.Field != "activation_code" {
		t.Fatalf("no code: %+v", p)
	}
}

func TestActivationCodesAreRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withAccounts(func(c *portal.Config) {
		c.CardPerSIM = portal.Limit{N: 3, Window: 3600e9}
		c.CardPerUser = portal.Limit{N: 4, Window: 3600e9}
	}))
	a, b := e.user(), e.user()
	target := e.card()
	// Per card: three wrong guesses from two accounts lock the card, even
	// against its right code.
	a.must(422, "POST", "/v1/sims", map[string]string{"iccid": target, "activation_code": "guess-1"})
	b.must(422, "POST", "/v1/sims", map[string]string{"iccid": target, "activation_code": "guess-2"})
	b.must(422, "POST", "/v1/sims", map[string]string{"iccid": target, "activation_code": "guess-3"})
	r := a.must(429, "POST", "/v1/sims", map[string]string{"iccid": target, "activation_code": codeOf(target)})
	if r.problem(t).Code != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("locked card: %s %v", r.body, r.header)
	}
	// Per user: successes are refunded; guesses count, on any card, and so
	// does the refused attempt above. a has used 2 of 4.
	for range 3 {
		a.addCard(e.card())
	}
	a.must(422, "POST", "/v1/sims", map[string]string{"iccid": e.card(), "activation_code": "nope"})
	a.must(422, "POST", "/v1/sims", map[string]string{"iccid": e.card(), "activation_code": "nope"})
	fresh := e.card()
	a.must(429, "POST", "/v1/sims", map[string]string{"iccid": fresh, "activation_code": codeOf(fresh)})
}
