package http_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/simcore/simcore/provisioning"
)

type requestJSON struct {
	ID             string          `json:"id"`
	SubscriptionID int64           `json:"subscription_id"`
	Kind           string          `json:"kind"`
	Params         json.RawMessage `json:"params"`
	State          string          `json:"state"`
}

// submitted checks a 202 answer and that polling its Location returns the
// same request, and returns it.
func (c *client) submitted(r response, kind string) requestJSON {
	c.e.t.Helper()
	var req requestJSON
	r.decode(c.e.t, &req)
	if r.status != http.StatusAccepted || req.ID == "" || req.Kind != kind || req.State != "pending" {
		c.e.t.Fatalf("submit %s: %d %s", kind, r.status, r.body)
	}
	loc := r.header.Get("Location")
	if loc != "/v1/requests/"+req.ID {
		c.e.t.Fatalf("Location %q, want /v1/requests/%s", loc, req.ID)
	}
	var polled requestJSON
	c.must(http.StatusOK, "GET", loc, nil).decode(c.e.t, &polled)
	if polled.ID != req.ID || polled.Kind != kind {
		c.e.t.Fatalf("polled %+v, want %+v", polled, req)
	}
	stored, err := c.e.prov.Request(c.e.ctx, req.ID)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if want := "portal:user:" + strconv.FormatInt(c.user.ID, 10); stored.RequestedBy != want {
		c.e.t.Fatalf("requested_by %q, want %q", stored.RequestedBy, want)
	}
	return req
}

func TestSubscriptionsAndRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	l := e.line()
	c.addCard(l.iccid)
	path := "/v1/subscriptions/" + strconv.FormatInt(l.id, 10)

	var list struct {
		Subscriptions []struct {
			ID     int64  `json:"id"`
			MSISDN string `json:"msisdn"`
			ICCID  string `json:"iccid"`
			Status string `json:"status"`
			Plan   struct {
				Name string `json:"name"`
			} `json:"plan"`
			StartDate string `json:"start_date"`
		} `json:"subscriptions"`
	}
	c.must(http.StatusOK, "GET", "/v1/subscriptions", nil).decode(t, &list)
	if len(list.Subscriptions) != 1 {
		t.Fatalf("subscriptions: %+v", list)
	}
	s := list.Subscriptions[0]
	if s.ID != l.id || s.MSISDN != l.msisdn || s.ICCID != l.iccid || s.Status != "active" || s.Plan.Name != e.plan.Name || s.StartDate != time.Now().UTC().Format(time.DateOnly) {
		t.Fatalf("subscription %+v, want line %+v", s, l)
	}
	var one struct {
		ID        int64             `json:"id"`
		Voicemail map[string]any    `json:"voicemail"`
		Forward   map[string]string `json:"forwarding"`
	}
	c.must(http.StatusOK, "GET", path, nil).decode(t, &one)
	if one.ID != l.id || one.Voicemail == nil || one.Forward == nil {
		t.Fatalf("GET %s = %+v", path, one)
	}

	vm := c.submitted(c.do("PUT", path+"/voicemail", map[string]any{"enabled": true, "language": "he"}), "voicemail")
	var vp provisioning.VoicemailParams
	if err := json.Unmarshal(vm.Params, &vp); err != nil || !vp.Enabled || vp.Language != "he" {
		t.Fatalf("voicemail params %s", vm.Params)
	}
	c.submitted(c.do("PUT", path+"/forwarding/busy", map[string]any{"number": "972500000001"}), "forwarding")
	fw := c.submitted(c.do("DELETE", path+"/forwarding/busy", nil), "forwarding")
	if string(fw.Params) != `{"condition": "busy", "number": ""}` && string(fw.Params) != `{"condition":"busy","number":""}` {
		t.Fatalf("cancel params %s", fw.Params)
	}
	c.submitted(c.do("POST", path+"/apn-settings", nil), "apn_sms")
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	nextYear := time.Now().UTC().AddDate(1, 0, 0).Format(time.DateOnly)
	c.submitted(c.do("PUT", path+"/dates", map[string]any{"start": tomorrow, "end": nextYear}), "dates")

	for _, tt := range []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"voicemail without enabled", "PUT", "/voicemail", map[string]any{"language": "he"}, 422, "enabled"},
		{"voicemail bad language", "PUT", "/voicemail", map[string]any{"enabled": true, "language": "xx"}, 422, "language"},
		{"voicemail enabled not a bool", "PUT", "/voicemail", map[string]any{"enabled": "yes"}, 400, "enabled"},
		{"forwarding unknown condition", "PUT", "/forwarding/sometimes", map[string]any{"number": "972500000001"}, 422, "condition"},
		{"forwarding bad number", "PUT", "/forwarding/busy", map[string]any{"number": "+972-50"}, 422, "number"},
		{"forwarding no number", "PUT", "/forwarding/busy", map[string]any{}, 422, "number"},
		{"dates in the past", "PUT", "/dates", map[string]any{"start": "2001-01-01"}, 422, "start"},
		{"dates malformed", "PUT", "/dates", map[string]any{"start": "tomorrow"}, 422, "start"},
		{"dates end before start", "PUT", "/dates", map[string]any{"start": nextYear, "end": tomorrow}, 422, "end"},
		{"apn with a body field", "POST", "/apn-settings", map[string]any{"apn": "x"}, 400, "apn"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := c.must(tt.status, tt.method, path+tt.path, tt.body).problem(t)
			if p.Field != tt.field {
				t.Fatalf("problem %+v, want field %q", p, tt.field)
			}
		})
	}

	var reqs struct {
		Requests []requestJSON `json:"requests"`
	}
	c.must(http.StatusOK, "GET", path+"/requests", nil).decode(t, &reqs)
	if len(reqs.Requests) != 5 || reqs.Requests[0].Kind != "dates" || reqs.Requests[4].Kind != "voicemail" {
		t.Fatalf("requests, newest first: %+v", reqs)
	}
	c.must(http.StatusOK, "GET", path+"/requests?limit=2", nil).decode(t, &reqs)
	if len(reqs.Requests) != 2 {
		t.Fatalf("limit=2: %d requests", len(reqs.Requests))
	}
	if p := c.must(400, "GET", path+"/requests?limit=0", nil).problem(t); p.Field != "limit" {
		t.Fatalf("limit=0: %+v", p)
	}
}

func TestSIMSwap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, other := e.user(), e.user()
	l := e.line()
	c.addCard(l.iccid)
	path := "/v1/subscriptions/" + strconv.FormatInt(l.id, 10) + "/sim-swap"
	next := e.card()

	if p := c.must(422, "POST", path, map[string]string{"new_iccid": next, "activation_code": "wrong"}).problem(t); p.Code != "activation_failed" {
		t.Fatalf("swap with a wrong code: %+v", p)
	}
	if p := c.must(422, "POST", path, map[string]string{"new_iccid": "123", "activation_code": "x"}).problem(t); p.Field != "new_iccid" {
		t.Fatalf("swap to a malformed ICCID: %+v", p)
	}
	req := c.submitted(c.do("POST", path, map[string]string{"new_iccid": next, "activation_code": codeOf(next)}), "sim_swap")
	if string(req.Params) != `{"new_iccid": "`+next+`"}` && string(req.Params) != `{"new_iccid":"`+next+`"}` {
		t.Fatalf("swap params %s", req.Params)
	}
	// The new card is the caller's now, reserved for the swap, and nobody
	// else's to claim.
	var sim simJSON
	c.must(http.StatusOK, "GET", "/v1/sims/"+next, nil).decode(t, &sim)
	if sim.State != "reserved" {
		t.Fatalf("new card %+v, want reserved", sim)
	}
	other.must(422, "POST", "/v1/sims", map[string]string{"iccid": next, "activation_code": codeOf(next)})

	// A card that is on another line cannot be swapped to; the claim is
	// undone.
	busy := e.line()
	if p := c.must(409, "POST", path, map[string]string{"new_iccid": busy.iccid, "activation_code": codeOf(busy.iccid)}).problem(t); p.Code != "sim_not_available" {
		t.Fatalf("swap to an active card: %+v", p)
	}
	c.must(404, "GET", "/v1/sims/"+busy.iccid, nil)
}
