package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/provisioning"
	ppg "github.com/simcore/simcore/provisioning/postgres"
)

// portalDemo walks the portal API of a running engine end to end: register,
// log in, claim a card with the code printed on it, see its usage, change
// the plan's dates and poll the request until the workers have applied it.
// The line is the test's own, not a demo line: the demo traffic swaps demo
// lines to new cards at random, which would retire the card mid-test.
func portalDemo(t *testing.T, env map[string]string, api, pushURL, pushToken string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	iccid, code := demoICCID(900), "PORTAL-E2E"
	line := newPortalLine(t, ctx, env, iccid, code)

	body := "record_id,node_id,type,iccid,start_time,bytes_up,bytes_down\n" +
		"portal-1,portalnode,data," + iccid + "," + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339) + ",1000,2000\n"
	req, _ := http.NewRequest(http.MethodPost, pushURL, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+pushToken)
	req.Header.Set("Content-Type", "text/csv")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("push usage of the portal's card: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	call := func(method, path, token string, body any) (int, http.Header, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		}
		req, _ := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(api, "/v1")+path, rd)
		if rd != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	creds := map[string]any{"email": "demo-user@example.com", "password": "a long demo password"}
	if code, _, b := call("POST", "/v1/auth/register", "", map[string]any{"email": creds["email"], "password": creds["password"], "name": "Demo", "accepted_terms": true}); code != http.StatusCreated {
		t.Fatalf("portal register: %d %s", code, b)
	}
	status, _, b := call("POST", "/v1/auth/login", "", creds)
	var g struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &g); status != http.StatusOK || err != nil || g.Token == "" {
		t.Fatalf("portal login: %d %s", status, b)
	}
	var sim struct {
		Subscription struct {
			ID int64 `json:"subscription_id"`
		} `json:"subscription"`
	}
	status, _, b = call("POST", "/v1/sims", g.Token, map[string]string{"iccid": iccid, "activation_code": code})
	if err := json.Unmarshal(b, &sim); status != http.StatusCreated || err != nil || sim.Subscription.ID != line {
		t.Fatalf("portal add SIM: %d %s; want subscription %d", status, b, line)
	}
	var u struct {
		Data struct {
			BytesUp uint64 `json:"bytes_up"`
		} `json:"data"`
	}
	waitFor(t, 30*time.Second, func() bool {
		status, _, b = call("GET", "/v1/sims/"+iccid+"/usage", g.Token, nil)
		return status == http.StatusOK && json.Unmarshal(b, &u) == nil && u.Data.BytesUp == 1000
	}, func() string { return "portal usage never showed the pushed 1000 bytes up: " + string(b) })

	start := time.Now().UTC().AddDate(0, 0, 2).Format(time.DateOnly)
	status, hdr, b := call("PUT", "/v1/subscriptions/"+strconv.FormatInt(line, 10)+"/dates", g.Token, map[string]any{"start": start})
	if status != http.StatusAccepted || hdr.Get("Location") == "" {
		t.Fatalf("portal dates: %d %s", status, b)
	}
	var r struct {
		State   string          `json:"state"`
		Outcome json.RawMessage `json:"outcome"`
	}
	waitFor(t, 60*time.Second, func() bool {
		status, _, b = call("GET", hdr.Get("Location"), g.Token, nil)
		return status == http.StatusOK && json.Unmarshal(b, &r) == nil && (r.State == "done" || r.State == "failed")
	}, func() string { return "the portal's dates request never finished: " + string(b) })
	if r.State != "done" || !strings.Contains(string(r.Outcome), `"dates_version":1`) {
		t.Fatalf("portal dates request: %s", b)
	}
	var subView struct {
		StartDate string `json:"start_date"`
	}
	status, _, b = call("GET", "/v1/subscriptions/"+strconv.FormatInt(line, 10), g.Token, nil)
	if err := json.Unmarshal(b, &subView); status != http.StatusOK || err != nil || subView.StartDate != start {
		t.Fatalf("subscription after the dates change: %d %s; want start %s", status, b, start)
	}
}

// newPortalLine adds card iccid with code to the inventory and a pending
// subscription on it (starting tomorrow), and returns its id.
func newPortalLine(t *testing.T, ctx context.Context, env map[string]string, iccid, code string) int64 {
	t.Helper()
	pool, err := pgxpool.New(ctx, env["SIMCORE_POSTGRES_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := ppg.New(pool)
	key, _ := hex.DecodeString(env["SIMCORE_ACTIVATION_KEY"])
	h, err := provisioning.NewActivationHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := store.ImportSIMs(ctx, []provisioning.SIMImportRow{{ICCID: iccid, IMSI: demoIMSI(900), ActivationCode: code}}, h); err != nil || res.Imported != 1 {
		t.Fatalf("import the portal's card: %+v %v", res, err)
	}
	acct, err := store.CreateAccount(ctx, "Portal e2e")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := store.CreateSubscriber(ctx, provisioning.Subscriber{AccountID: acct, Name: "Portal user", Language: "da"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := store.CreatePlan(ctx, provisioning.Plan{Name: "portal-e2e", APN: "e2e.simcore"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := store.CreateSubscription(ctx, sub, plan, "447700999900", iccid, time.Now().UTC().AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	return id
}
