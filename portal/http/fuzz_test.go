package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/metering"
	phttp "github.com/simcore/simcore/portal/http"
)

// FuzzRequest sends arbitrary requests through the real API (PostgreSQL,
// Redis and ClickHouse behind it) as a logged-in user who owns a line with
// usage: any route, its path parameters the user's own or arbitrary, any
// query and any body. Whatever the request, the answer is below 500, and an
// error is a problem document with a code.
func FuzzRequest(f *testing.F) {
	e := newEnv(f)
	c := e.user()
	l := e.line()
	c.addCard(l.iccid)
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
	e.writeUsage([]metering.Record{
		{Type: metering.TypeData, ICCID: l.iccid, StartTime: day, BytesUp: 10, DurationS: 60, NodeID: "n", RecordID: "d1"},
		{Type: metering.TypeSMS, ICCID: l.iccid, StartTime: day.Add(time.Hour), NodeID: "n", RecordID: "s1", PeerNumber: "972500000002"},
	})
	// Routes that end the session or take the line away would leave the
	// rest of the run at 401 and 404.
	var routes []string
	for _, r := range e.api.Routes() {
		switch r {
		case "POST /v1/auth/logout", "PUT /v1/me/password", "POST /v1/me/email", "DELETE /v1/sims/{iccid}":
			continue
		}
		routes = append(routes, r)
	}
	for i, r := range routes {
		switch {
		case strings.Contains(r, "/usage"):
			f.Add(uint8(i), true, "", "from=2024-01-01&to=2024-02-01T00:00:00Z&by=day", []byte(nil))
			f.Add(uint8(i), true, "", "from=1969-12-31&to=2106-01-02", []byte(nil))
		case strings.Contains(r, "/sessions"):
			f.Add(uint8(i), true, "", "limit=1&cursor=MTcwOTYzMjgwMC5mZi4x", []byte(nil))
		case strings.Contains(r, "/balance"):
			f.Add(uint8(i), true, "", "periods=36", []byte(nil))
		case strings.Contains(r, "/dates"):
			f.Add(uint8(i), true, "", "", []byte(`{"end":"2030-02-30"}`))
		case strings.Contains(r, "/forwarding/"):
			f.Add(uint8(i), true, "busy", "", []byte(`{"number":"+972500000003"}`))
		case strings.HasPrefix(r, "POST /v1/sims"):
			f.Add(uint8(i), false, "", "", []byte(`{"iccid":"`+l.iccid+`","activation_code":"x"}`))
		case strings.Contains(r, "/topups"):
			f.Add(uint8(i), true, "", "", []byte(`{"voucher_code":"\u0000"}`))
		default:
			f.Add(uint8(i), false, "0", "", []byte(`{}`))
		}
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, route uint8, own bool, arg, query string, body []byte) {
		pattern := routes[int(route)%len(routes)]
		method, path, _ := strings.Cut(pattern, " ")
		for _, p := range []struct{ param, own string }{
			{"{iccid}", l.iccid}, {"{id}", strconv.FormatInt(l.id, 10)}, {"{condition}", "busy"},
		} {
			v := p.own
			if !own || p.param == "{condition}" {
				v = url.PathEscape(arg)
			}
			path = strings.ReplaceAll(path, p.param, v)
		}
		req, err := http.NewRequestWithContext(ctx, method, "http://portal.test"+path+"?"+query, bytes.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		e.api.ServeHTTP(rec, req)
		res := rec.Result()
		got, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 500 {
			t.Fatalf("%s %s?%s with %q: status %d: %s", method, path, query, body, res.StatusCode, got)
		}
		if res.StatusCode >= 400 {
			var p phttp.Problem
			if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(got, &p) != nil || p.Code == "" {
				t.Fatalf("%s %s?%s: status %d, Content-Type %q, body %s: not a problem document", method, path, query, res.StatusCode, ct, got)
			}
		}
	})
}
