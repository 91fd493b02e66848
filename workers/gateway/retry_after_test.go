package gateway_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/workers/gateway"
)

// TestHugeRetryAfterIsBounded: a gateway (or a proxy in front of it) that
// answers a transient 503 with an absurd Retry-After must not park the
// request for years: workers/asynq waits exactly RetryAfter() before the
// next attempt, and every later request of the same subscription waits
// behind it. The delay is capped at gateway.MaxRetryAfter.
func TestHugeRetryAfterIsBounded(t *testing.T) {
	t.Parallel()
	for _, ra := range []string{"4294967295", "86400000", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		t.Run(ra, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.Header().Set("Retry-After", ra)
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"status":503,"code":"unavailable"}`))
			}))
			t.Cleanup(ts.Close)
			g, err := gateway.New(gateway.Config{BaseURL: ts.URL, Token: token})
			if err != nil {
				t.Fatal(err)
			}
			err = g.SetBarring(ctx(t), key(), msisdn(1), provisioning.Barring{})
			rae, ok := errors.AsType[*gateway.RetryAfterError](err)
			if !ok || errors.Is(err, provisioning.ErrPermanent) {
				t.Fatalf("%v: want a transient *RetryAfterError", err)
			}
			if rae.RetryAfter() > time.Hour {
				t.Fatalf("Retry-After %q: the request waits %s before its next attempt", ra, rae.RetryAfter())
			}
		})
	}
}
