package http_test

// Tests from a second review of the portal: each failed before the fix it
// names.

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/simcore/simcore/provisioning"
)

// TestBarDataRequestsMatchSpec: rating bars a line's data with a
// bar_data request on the subscription; the subscriber's request list
// (and polling the request) must still answer what portal/openapi.yaml
// allows (Request.kind's enum lacked bar_data and unbar_data).
func TestBarDataRequestsMatchSpec(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	l := e.line()
	c.addCard(l.iccid)
	params, _ := json.Marshal(provisioning.BarringParams{Reason: "balance_exhausted", Notice: "balance_exhausted"})
	r := provisioning.Request{SubscriptionID: l.id, Kind: provisioning.KindBarData, Params: params, State: provisioning.StatePending,
		RequestedBy: "rating", NotBefore: time.Now()}
	if err := e.prov.CreateRequest(e.ctx, &r); err != nil {
		t.Fatal(err)
	}
	path := "/v1/subscriptions/" + strconv.FormatInt(l.id, 10)
	c.must(http.StatusOK, "GET", path+"/requests", nil) // checkAgainstOpenAPI reports the violation
	c.must(http.StatusOK, "GET", "/v1/requests/"+r.ID, nil)
}

// TestDatesEndInPastRefused: keeping a live line's past start date (to change
// only its end) must not let the subscriber put the end in the past: the
// line would end retroactively, and rating leaves usage after a line's end
// unrated (docs/rating.md), so the last days' usage would never be charged.
func TestDatesEndInPastRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	start := today.AddDate(0, 0, -10)
	iccid := e.card()
	id, err := e.prov.CreateSubscription(e.ctx, e.sub.ID, e.plan.ID, newMSISDN(), iccid, start)
	if err != nil {
		t.Fatal(err)
	}
	c.addCard(iccid)
	path := "/v1/subscriptions/" + strconv.FormatInt(id, 10) + "/dates"
	r := c.do("PUT", path, map[string]any{"start": start.Format(time.DateOnly), "end": today.AddDate(0, 0, -5).Format(time.DateOnly)})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("end date 5 days in the past on a live line: %d %s, want 422 (field end)", r.status, r.body)
	}
}

// TestRequestOnEndedLineConflicts: an ended line can change no more, so a
// request on it is refused with 409 conflict when it is made. It used to
// be recorded (202) and failed by the worker later; a SIM swap also
// claimed and reserved the caller's new card meanwhile.
func TestRequestOnEndedLineConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	l := e.line()
	c.addCard(l.iccid)
	if _, err := e.pool.Exec(e.ctx, `UPDATE subscriptions SET status = 'ended', end_date = start_date + 1 WHERE id = $1`, l.id); err != nil {
		t.Fatal(err)
	}
	path := "/v1/subscriptions/" + strconv.FormatInt(l.id, 10)
	r := c.do("PUT", path+"/voicemail", map[string]any{"enabled": true, "language": "en"})
	if r.status != http.StatusConflict {
		t.Errorf("voicemail on an ended line: %d %s, want 409 conflict", r.status, r.body)
	}
	next := e.card()
	r = c.do("POST", path+"/sim-swap", map[string]string{"new_iccid": next, "activation_code": codeOf(next)})
	if r.status != http.StatusConflict {
		t.Errorf("SIM swap of an ended line: %d %s, want 409 conflict", r.status, r.body)
	}
}
