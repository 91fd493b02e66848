package http_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

func TestUnknownRoutesAreProblems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	if p := c.must(http.StatusNotFound, "GET", "/v1/nowhere", nil).problem(t); p.Code != "not_found" {
		t.Fatalf("unknown path: %+v", p)
	}
	r := c.must(http.StatusMethodNotAllowed, "DELETE", "/v1/me", nil)
	if p := r.problem(t); p.Code != "method_not_allowed" {
		t.Fatalf("unknown method: %+v", p)
	}
	if allow := r.header.Values("Allow"); strings.Join(allow, ",") != "GET,PATCH" {
		t.Fatalf("Allow %v, want GET and PATCH", allow)
	}
}

func TestRequestIDsLogsAndMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	l := e.line()
	c.addCard(l.iccid)

	r := c.must(http.StatusOK, "GET", "/v1/sims/"+l.iccid, nil, "X-Request-Id", "client-chosen-42")
	if got := r.header.Get("X-Request-Id"); got != "client-chosen-42" {
		t.Fatalf("X-Request-Id %q, want the client's", got)
	}
	r = c.must(http.StatusOK, "GET", "/v1/me", nil, "X-Request-Id", "bad id with spaces")
	if got := r.header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") {
		t.Fatalf("X-Request-Id %q, want a generated one", got)
	}
	c.must(http.StatusNotFound, "GET", "/v1/sims/"+e.card(), nil)
	e.anon().must(http.StatusUnauthorized, "GET", "/v1/me", nil, "X-Request-Id", "anonymous-1")

	// Every log line carries a request id; none carries the ICCID (paths
	// are logged as route templates).
	sc := bufio.NewScanner(strings.NewReader(e.logs.String()))
	lines := 0
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if rec["msg"] != "request" {
			continue
		}
		lines++
		if id, _ := rec["request_id"].(string); id == "" {
			t.Errorf("log line without request_id: %s", sc.Text())
		}
		if strings.Contains(sc.Text(), l.iccid) || strings.Contains(sc.Text(), c.user.Email) {
			t.Errorf("log line holds an ICCID or an e-mail address: %s", sc.Text())
		}
		// Who asked: the client's address always, the user once known
		// (from the session, or from the login that opened it).
		if rec["client"] != "127.0.0.1" {
			t.Errorf("log line with client %v, want 127.0.0.1: %s", rec["client"], sc.Text())
		}
		user, hasUser := rec["user"].(float64)
		switch {
		case rec["route"] == "POST /v1/auth/register", rec["request_id"] == "anonymous-1":
			if hasUser {
				t.Errorf("registration logged with a user: %s", sc.Text())
			}
		default:
			if int64(user) != c.user.ID {
				t.Errorf("log line with user %v, want %d: %s", rec["user"], c.user.ID, sc.Text())
			}
		}
	}
	if lines < 5 || !strings.Contains(e.logs.String(), `"request_id":"client-chosen-42"`) {
		t.Fatalf("%d request log lines; the client's id logged: %v", lines, strings.Contains(e.logs.String(), "client-chosen-42"))
	}

	count := func(route, class string) float64 {
		mfs, err := e.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "simcore_portal_requests_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if label(m, "route") == route && label(m, "code_class") == class {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	for _, tt := range []struct {
		route, class string
		want         float64
	}{
		{"GET /v1/sims/{iccid}", "2xx", 1},
		{"GET /v1/sims/{iccid}", "4xx", 1},
		{"POST /v1/sims", "2xx", 1},
		{"POST /v1/auth/login", "2xx", 1},
	} {
		if got := count(tt.route, tt.class); got != tt.want {
			t.Errorf("simcore_portal_requests_total{route=%q,code_class=%q} = %v, want %v", tt.route, tt.class, got, tt.want)
		}
	}
	mfs, _ := e.reg.Gather()
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "simcore_portal_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.Contains(lp.GetValue(), l.iccid) || strings.Contains(lp.GetValue(), "@") {
					t.Errorf("%s has personal data in label %s=%q", mf.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
		if mf.GetName() == "simcore_portal_request_duration_seconds" && len(mf.GetMetric()) == 0 {
			t.Error("no request durations")
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
