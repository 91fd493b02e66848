package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/workers/gateway"
)

// FuzzAnswer: whatever a gateway (or a proxy in front of it) answers, the
// client returns a subscriber that is the one asked for, or an error that
// says permanent or transient consistently, never a delay beyond
// MaxRetryAfter, and never the token.
func FuzzAnswer(f *testing.F) {
	f.Add(200, "application/json", "", `{"msisdn":"972500000001","imsi":"425010000000001","iccid":"8997206000000000015","forwarding":{"busy":"972500000002"}}`)
	f.Add(200, "application/json", "", `null`)
	f.Add(404, "application/problem+json", "", `{"code":"subscriber_not_found","title":"Not found"}`)
	f.Add(409, "application/problem+json; charset=utf-8", "", `{"code":"idempotency_key_in_flight"}`)
	f.Add(429, "text/plain", "4294967295", `slow down`)
	f.Add(503, "application/json", "Wed, 21 Oct 2015 07:28:00 GMT", `{"code":5}`)
	f.Add(302, "", "", "")
	var (
		mu                    sync.Mutex // the answer, set by the fuzz function
		status                int
		ctype, retry, payload string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(payload))
	}))
	f.Cleanup(srv.Close)
	c, err := gateway.New(gateway.Config{BaseURL: srv.URL, Token: token, Timeout: 5 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, st int, ct, ra, body string) {
		// What net/http lets a server send: a status of three digits
		// other than 1xx (those are interim), header values without line
		// breaks.
		if strings.ContainsAny(ct+ra, "\r\n\x00") {
			return
		}
		mu.Lock()
		status = 200 + int(uint(st)%400)
		ctype, retry, payload = ct, ra, body
		mu.Unlock()
		const msisdn = "972500000001"
		sub, err := c.Subscriber(ctx, msisdn)
		checkOutcome(t, err)
		if err == nil && (sub.MSISDN != msisdn || sub.IMSI == "" || sub.ICCID == "" || sub.Forwarding == nil) {
			t.Fatalf("answer %d %q taken as subscriber %+v", status, body, sub)
		}
		if err == nil && (status < 200 || status > 299) {
			t.Fatalf("status %d taken as a subscriber", status)
		}
		err = c.SetForwarding(ctx, "key-1", msisdn, provisioning.ForwardBusy, "972500000002")
		checkOutcome(t, err)
		if err == nil && (status < 200 || status > 299) {
			t.Fatalf("status %d taken as done", status)
		}
	})
}

func checkOutcome(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if strings.Contains(err.Error(), token) {
		t.Fatalf("error holds the token: %v", err)
	}
	var pe *gateway.ProblemError
	if errors.As(err, &pe) && pe.Permanent != errors.Is(err, provisioning.ErrPermanent) {
		t.Fatalf("%v: Permanent %v but errors.Is(ErrPermanent) %v", err, pe.Permanent, errors.Is(err, provisioning.ErrPermanent))
	}
	var ra *gateway.RetryAfterError
	if errors.As(err, &ra) {
		if ra.Delay < 0 || ra.Delay > gateway.MaxRetryAfter {
			t.Fatalf("%v: retry after %s", err, ra.Delay)
		}
		if errors.Is(err, provisioning.ErrPermanent) {
			t.Fatalf("%v: a permanent refusal with a retry delay", err)
		}
	}
}
