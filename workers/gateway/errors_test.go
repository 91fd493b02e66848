package gateway_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/workers/gateway"
)

// TestAnswerMapping serves canned answers, including ones the simulator never
// gives (429, in-flight keys, proxies' pages), and checks how each is taken.
func TestAnswerMapping(t *testing.T) {
	t.Parallel()
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name          string
		status        int
		ctype, body   string
		retryAfter    string
		wantErr       bool
		wantPermanent bool
		wantCode      string
		wantDelay     time.Duration // -1: no *RetryAfterError
	}{
		{"204", 204, "", "", "", false, false, "", -1},
		{"200 with a body", 200, "application/json", `{"msisdn":"447700900001"}`, "", false, false, "", -1},
		{"400", 400, "application/problem+json", `{"status":400,"code":"malformed_json"}`, "", true, true, "malformed_json", -1},
		{"401", 401, "application/problem+json", `{"status":401,"code":"unauthorized"}`, "", true, true, "unauthorized", -1},
		{"403 without problem", 403, "text/html", `<h1>Forbidden</h1>`, "", true, true, "http_403", -1},
		{"404 subscriber", 404, "application/problem+json", `{"status":404,"code":"subscriber_not_found"}`, "", true, true, "subscriber_not_found", -1},
		{"404 from a proxy", 404, "text/plain", `404 page not found`, "", true, true, "http_404", -1},
		{"409 conflict", 409, "application/problem+json", `{"status":409,"code":"imsi_in_use"}`, "", true, true, "imsi_in_use", -1},
		{"409 key in flight", 409, "application/problem+json", `{"status":409,"code":"idempotency_key_in_flight"}`, "1", true, false, "idempotency_key_in_flight", time.Second},
		{"408", 408, "", "", "", true, false, "http_408", -1},
		{"413", 413, "application/problem+json", `{"status":413,"code":"body_too_large"}`, "", true, true, "body_too_large", -1},
		{"422", 422, "application/problem+json; charset=utf-8", `{"status":422,"code":"idempotency_key_reused"}`, "", true, true, "idempotency_key_reused", -1},
		{"429 with seconds", 429, "application/problem+json", `{"status":429,"code":"rate_limited"}`, "7", true, false, "rate_limited", 7 * time.Second},
		{"429 without Retry-After", 429, "application/problem+json", `{"status":429,"code":"rate_limited"}`, "", true, false, "rate_limited", -1},
		{"500 empty", 500, "", "", "", true, false, "http_500", -1},
		{"502 html", 502, "text/html", `<html>bad gateway</html>`, "", true, false, "http_502", -1},
		{"503 with a date", 503, "application/problem+json", `{"status":503,"code":"unavailable"}`, httpDate, true, false, "unavailable", 90 * time.Second},
		{"503 with a bad Retry-After", 503, "application/problem+json", `{"status":503,"code":"unavailable"}`, "soon", true, false, "unavailable", -1},
		{"problem JSON garbage", 503, "application/problem+json", `{"code":`, "", true, false, "http_503", -1},
		{"302", 302, "", "", "", true, false, "http_302", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.ctype != "" {
					w.Header().Set("Content-Type", tt.ctype)
				}
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(ts.Close)
			g, err := gateway.New(gateway.Config{BaseURL: ts.URL + "/", Token: token})
			if err != nil {
				t.Fatal(err)
			}
			err = g.SetBarring(ctx(t), key(), msisdn(1), provisioning.Barring{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if got := errors.Is(err, provisioning.ErrPermanent); got != tt.wantPermanent {
				t.Errorf("%v: permanent %v, want %v", err, got, tt.wantPermanent)
			}
			pe, ok := errors.AsType[*gateway.ProblemError](err)
			if !ok || pe.Code != tt.wantCode || pe.Status != tt.status || pe.Op != "set_barring" {
				t.Errorf("%#v, want code %s status %d", err, tt.wantCode, tt.status)
			}
			ra, ok := errors.AsType[*gateway.RetryAfterError](err)
			switch {
			case tt.wantDelay < 0 && ok:
				t.Errorf("unexpected Retry-After %s", ra.Delay)
			case tt.wantDelay >= 0 && !ok:
				t.Errorf("%v: no *RetryAfterError, want %s", err, tt.wantDelay)
			case ok && (ra.Delay > tt.wantDelay || ra.Delay < tt.wantDelay-5*time.Second):
				t.Errorf("Retry-After %s, want about %s", ra.Delay, tt.wantDelay)
			}
			if !strings.Contains(err.Error(), tt.wantCode) {
				t.Errorf("message %q does not name the code", err)
			}
		})
	}
}

// TestRequestShape checks what the client sends: path, method, headers and
// body, as the API in docs/network.md says.
func TestRequestShape(t *testing.T) {
	t.Parallel()
	type seen struct{ method, path, auth, key, ctype, body string }
	var got seen
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), r.Header.Get("Content-Type"), string(b)}
		w.WriteHeader(204)
	}))
	t.Cleanup(ts.Close)
	g, err := gateway.New(gateway.Config{BaseURL: ts.URL + "/prefix/", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	tests := []struct {
		name string
		do   func() error
		want seen
	}{
		{"create", func() error {
			return g.CreateSubscriber(c, "k1", "447700900001", "234150000000001", "8944100000000000018")
		},
			seen{"POST", "/prefix/v1/subscribers", "Bearer " + token, "k1", "application/json", `{"iccid":"8944100000000000018","imsi":"234150000000001","msisdn":"447700900001"}`}},
		{"swap", func() error { return g.SwapSIM(c, "k2", "447700900001", "234150000000002", "8944100000000000026") },
			seen{"PUT", "/prefix/v1/subscribers/447700900001/sim", "Bearer " + token, "k2", "application/json", `{"iccid":"8944100000000000026","imsi":"234150000000002"}`}},
		{"voicemail", func() error {
			return g.SetVoicemail(c, "k3", "447700900001", provisioning.VoicemailSettings{Enabled: true, Language: "he"})
		}, seen{"PUT", "/prefix/v1/subscribers/447700900001/voicemail", "Bearer " + token, "k3", "application/json", `{"enabled":true,"language":"he"}`}},
		{"forward", func() error {
			return g.SetForwarding(c, "k4", "447700900001", provisioning.ForwardNoReply, "447700900123")
		},
			seen{"PUT", "/prefix/v1/subscribers/447700900001/forwarding/no_reply", "Bearer " + token, "k4", "application/json", `{"number":"447700900123"}`}},
		{"cancel", func() error { return g.SetForwarding(c, "k5", "447700900001", provisioning.ForwardNotReachable, "") },
			seen{"DELETE", "/prefix/v1/subscribers/447700900001/forwarding/not_reachable", "Bearer " + token, "k5", "", ""}},
		{"barring", func() error { return g.SetBarring(c, "k6", "447700900001", provisioning.Barring{All: true}) },
			seen{"PUT", "/prefix/v1/subscribers/447700900001/barring", "Bearer " + token, "k6", "application/json", `{"all":true,"data":false,"outgoing":false}`}},
		{"outgoing barring", func() error {
			return g.SetBarring(c, "k6b", "447700900001", provisioning.Barring{Data: true, Outgoing: true})
		},
			seen{"PUT", "/prefix/v1/subscribers/447700900001/barring", "Bearer " + token, "k6b", "application/json", `{"all":false,"data":true,"outgoing":true}`}},
		{"delete", func() error { return g.DeleteSubscriber(c, "k7", "447700900001") },
			seen{"DELETE", "/prefix/v1/subscribers/447700900001", "Bearer " + token, "k7", "", ""}},
		{"escaped msisdn", func() error { return g.DeleteSubscriber(c, "k8", "44/77?x") },
			seen{"DELETE", "/prefix/v1/subscribers/44%2F77%3Fx", "Bearer " + token, "k8", "", ""}},
	}
	for _, tt := range tests { // in turn: one server, one recorded request
		if err := tt.do(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: sent %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     gateway.Config
		wantErr string
	}{
		{"ok", gateway.Config{BaseURL: "http://127.0.0.1:8480", Token: "t"}, ""},
		{"ok with prefix", gateway.Config{BaseURL: "https://gw.example/prov/", Token: "t", Timeout: time.Second}, ""},
		{"no URL", gateway.Config{Token: "t"}, "empty base URL"},
		{"bad URL", gateway.Config{BaseURL: "http://[::1", Token: "t"}, "base URL"},
		{"no scheme", gateway.Config{BaseURL: "gw.example/prov", Token: "t"}, "scheme"},
		{"host and port only", gateway.Config{BaseURL: "127.0.0.1:8480", Token: "t"}, "base URL"},
		{"ftp", gateway.Config{BaseURL: "ftp://gw.example", Token: "t"}, "scheme"},
		{"no host", gateway.Config{BaseURL: "http:///v1", Token: "t"}, "no host"},
		{"credentials", gateway.Config{BaseURL: "http://u:p@gw.example", Token: "t"}, "credentials"},
		{"query", gateway.Config{BaseURL: "http://gw.example?x=1", Token: "t"}, "query"},
		{"no token", gateway.Config{BaseURL: "http://gw.example"}, "empty token"},
		{"negative timeout", gateway.Config{BaseURL: "http://gw.example", Token: "t", Timeout: -time.Second}, "negative timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := gateway.New(tt.cfg)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("New: %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestConfigValidateHidesPassword: a base URL that carries a password is
// refused, and so is one that does not parse, without the error (which
// `simcore worker` prints) showing the password.
func TestConfigValidateHidesPassword(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"https://gw:s3cret-pw@gw.example:badport",
		"https://gw:s3cret-pw@gw.example/%zz",
		"ht tp://gw:s3cret-pw@gw.example",
		"https://gw:s3cret-pw@gw.example\n",
		"https://gw:s3cret-pw@gw.example/",
	} {
		_, err := gateway.New(gateway.Config{BaseURL: u, Token: "t"})
		if err == nil {
			t.Errorf("New(%q): no error", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("New(%q): error shows the password: %v", u, err)
		}
	}
}

// TestConfigValidateHidesPasswordWithDelimiters: a password holding '#',
// '?' or '/' (common in generated ones) ends the URL's authority early for
// url.Parse, which then reports the password's first part as a bad port;
// that text must not reach the error either.
func TestConfigValidateHidesPasswordWithDelimiters(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, url string }{
		{"hash", "https://gw:s3cret#pw@gw.example:8443/prov"},
		{"question mark", "https://gw:s3cret?pw@gw.example/prov"},
		{"slash", "https://gw:s3cret/pw@gw.example/prov"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := gateway.New(gateway.Config{BaseURL: tt.url, Token: "t"})
			if err == nil {
				t.Fatalf("New(%q): no error", tt.url)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("New(%q): error shows the password: %v", tt.url, err)
			}
		})
	}
}
