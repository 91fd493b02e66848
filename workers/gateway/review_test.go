package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/workers/gateway"
)

// TestSlowErrorBodyIsATransientTimeout: a gateway that sends the status
// line and headers of a 409 (here the transient idempotency_key_in_flight)
// and then stalls past the client's Timeout before the body is complete.
// docs/network.md: Timeout bounds the call "the answer's body included", a
// timeout is transient and errors.Is(err, context.DeadlineExceeded) holds.
func TestSlowErrorBodyIsATransientTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"type":"about:blank","status":409,"code":"idempotency_key_in`))
		w.(http.Flusher).Flush()
		select { // the rest of the body never comes in time
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(release) })
	g, err := gateway.New(gateway.Config{BaseURL: ts.URL, Token: token, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = g.SwapSIM(ctx(t), key(), msisdn(1), imsi(2), iccid(2))
	if err == nil || errors.Is(err, provisioning.ErrPermanent) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("answer body cut by the timeout: %v (permanent %v); want a transient timeout (context.DeadlineExceeded)",
			err, errors.Is(err, provisioning.ErrPermanent))
	}
}

// TestSubscriberMalformedOK: a 200 whose body is JSON but not a
// subscriber (null, {}) must not be taken as a provisioned subscriber with
// no IMSI, ICCID, voicemail, forwarding or barring: the worker's "did it
// land?" read (provisioning.Service.landed) would then find a cancelled
// forwarding or a disabled voicemail "on the network" and complete the
// request as found_on_network.
func TestSubscriberMalformedOK(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`null`, `{}`, `{"unexpected":true}`} {
		t.Run(body, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(body))
			}))
			t.Cleanup(ts.Close)
			g, err := gateway.New(gateway.Config{BaseURL: ts.URL, Token: token})
			if err != nil {
				t.Fatal(err)
			}
			sub, err := g.Subscriber(ctx(t), msisdn(1))
			if err == nil {
				t.Fatalf("200 %s: no error, subscriber %+v; want a (transient) error: the answer is not a subscriber", body, sub)
			}
		})
	}
}
