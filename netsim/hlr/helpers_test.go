package hlr_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/netsim/hlr"
	"github.com/simcore/simcore/provisioning"
)

const token = "hlr-test-token"

// newServer serves a simulator on 127.0.0.1; cfg's token and logger are
// filled in when empty.
func newServer(t testing.TB, cfg hlr.Config) (*hlr.Server, string) {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = token
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s, err := hlr.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts.URL
}

// Test identities: distinct, valid values for SIM n.
func msisdn(n int) string { return fmt.Sprintf("4477009%05d", n) }
func imsi(n int) string   { return fmt.Sprintf("23415%010d", n) }
func iccid(n int) string {
	s := fmt.Sprintf("894410%012d", n)
	sum, double := 0, true
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return s + string(rune('0'+(10-sum%10)%10))
}

// request is one HTTP request; empty fields take working defaults.
type request struct {
	method, path, body string
	key                string // Idempotency-Key; "-" sends none
	ctype              string // Content-Type; "-" sends none
	auth               string // Authorization; "-" sends none
}

type problemDoc struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

type reply struct {
	status  int
	header  http.Header
	body    string
	problem problemDoc
}

// send sends r to base and checks the answer's form: a problem+json body
// whose status matches for every error, JSON for 200 and 201.
func send(t testing.TB, base string, r request) reply {
	t.Helper()
	req, err := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	set := func(name, v, def string) {
		switch v {
		case "-":
		case "":
			req.Header.Set(name, def)
		default:
			req.Header.Set(name, v)
		}
	}
	set("Authorization", r.auth, "Bearer "+token)
	if r.method != http.MethodGet {
		set("Idempotency-Key", r.key, rand.Text())
	}
	if r.body != "" {
		set("Content-Type", r.ctype, "application/json")
	} else if r.ctype != "" && r.ctype != "-" {
		req.Header.Set("Content-Type", r.ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	ct := resp.Header.Get("Content-Type")
	switch {
	case resp.StatusCode >= 400:
		if ct != "application/problem+json" {
			t.Errorf("%s %s: %d with Content-Type %q; body %s", r.method, r.path, resp.StatusCode, ct, b)
		}
		if err := json.Unmarshal(b, &out.problem); err != nil {
			t.Fatalf("%s %s: %d body %q: %v", r.method, r.path, resp.StatusCode, b, err)
		}
		if out.problem.Status != resp.StatusCode || out.problem.Code == "" || out.problem.Type != "about:blank" {
			t.Errorf("%s %s: problem %+v in a %d answer", r.method, r.path, out.problem, resp.StatusCode)
		}
	case resp.StatusCode == http.StatusOK, resp.StatusCode == http.StatusCreated:
		if ct != "application/json" {
			t.Errorf("%s %s: %d with Content-Type %q", r.method, r.path, resp.StatusCode, ct)
		}
	}
	return out
}

// create provisions SIM n as subscriber n.
func create(t testing.TB, base string, n int) {
	t.Helper()
	r := send(t, base, request{method: "POST", path: "/v1/subscribers",
		body: fmt.Sprintf(`{"msisdn":%q,"imsi":%q,"iccid":%q}`, msisdn(n), imsi(n), iccid(n))})
	if r.status != http.StatusCreated {
		t.Fatalf("create %d: %d %s", n, r.status, r.body)
	}
}

func diffSubs(a, b []provisioning.NetworkSubscriber) string { return cmp.Diff(a, b) }
