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

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/netsim/hlr"
	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/workers/gateway"
)

// TestOperations runs every operation end to end against the simulator and
// checks the state it holds, and that the client reads the same state back.
func TestOperations(t *testing.T) {
	t.Parallel()
	base := func() provisioning.NetworkSubscriber {
		return provisioning.NetworkSubscriber{MSISDN: msisdn(1), IMSI: imsi(1), ICCID: iccid(1), Forwarding: map[provisioning.ForwardingKind]string{}}
	}
	tests := []struct {
		name    string
		do      func(context.Context, provisioning.Gateway) error
		want    func(*provisioning.NetworkSubscriber) // applied to base; nil: deleted
		deleted bool
	}{
		{"create", func(context.Context, provisioning.Gateway) error { return nil }, func(*provisioning.NetworkSubscriber) {}, false},
		{"swap SIM", func(c context.Context, g provisioning.Gateway) error {
			return g.SwapSIM(c, key(), msisdn(1), imsi(2), iccid(2))
		}, func(s *provisioning.NetworkSubscriber) { s.IMSI, s.ICCID = imsi(2), iccid(2) }, false},
		{"swap to the same SIM", func(c context.Context, g provisioning.Gateway) error {
			return g.SwapSIM(c, key(), msisdn(1), imsi(1), iccid(1))
		}, func(*provisioning.NetworkSubscriber) {}, false},
		{"voicemail on", func(c context.Context, g provisioning.Gateway) error {
			return g.SetVoicemail(c, key(), msisdn(1), provisioning.VoicemailSettings{Enabled: true, Language: "he"})
		}, func(s *provisioning.NetworkSubscriber) {
			s.Voicemail = provisioning.VoicemailSettings{Enabled: true, Language: "he"}
		}, false},
		{"voicemail off", func(c context.Context, g provisioning.Gateway) error {
			if err := g.SetVoicemail(c, key(), msisdn(1), provisioning.VoicemailSettings{Enabled: true, Language: "en"}); err != nil {
				return err
			}
			return g.SetVoicemail(c, key(), msisdn(1), provisioning.VoicemailSettings{})
		}, func(*provisioning.NetworkSubscriber) {}, false},
		{"forward every condition", func(c context.Context, g provisioning.Gateway) error {
			for i, k := range provisioning.ForwardingKinds {
				if err := g.SetForwarding(c, key(), msisdn(1), k, msisdn(100+i)); err != nil {
					return err
				}
			}
			return nil
		}, func(s *provisioning.NetworkSubscriber) {
			for i, k := range provisioning.ForwardingKinds {
				s.Forwarding[k] = msisdn(100 + i)
			}
		}, false},
		{"cancel forwarding", func(c context.Context, g provisioning.Gateway) error {
			for _, k := range []provisioning.ForwardingKind{provisioning.ForwardBusy, provisioning.ForwardNoReply} {
				if err := g.SetForwarding(c, key(), msisdn(1), k, msisdn(100)); err != nil {
					return err
				}
			}
			return g.SetForwarding(c, key(), msisdn(1), provisioning.ForwardBusy, "")
		}, func(s *provisioning.NetworkSubscriber) { s.Forwarding[provisioning.ForwardNoReply] = msisdn(100) }, false},
		{"cancel forwarding that is not set", func(c context.Context, g provisioning.Gateway) error {
			return g.SetForwarding(c, key(), msisdn(1), provisioning.ForwardNotReachable, "")
		}, func(*provisioning.NetworkSubscriber) {}, false},
		{"bar data", func(c context.Context, g provisioning.Gateway) error {
			return g.SetBarring(c, key(), msisdn(1), provisioning.Barring{Data: true})
		}, func(s *provisioning.NetworkSubscriber) { s.Barring.Data = true }, false},
		{"bar outgoing calls and SMS", func(c context.Context, g provisioning.Gateway) error {
			return g.SetBarring(c, key(), msisdn(1), provisioning.Barring{Outgoing: true})
		}, func(s *provisioning.NetworkSubscriber) { s.Barring.Outgoing = true }, false},
		{"suspend and resume", func(c context.Context, g provisioning.Gateway) error {
			if err := g.SetBarring(c, key(), msisdn(1), provisioning.Barring{All: true, Data: true}); err != nil {
				return err
			}
			return g.SetBarring(c, key(), msisdn(1), provisioning.Barring{})
		}, func(*provisioning.NetworkSubscriber) {}, false},
		{"delete", func(c context.Context, g provisioning.Gateway) error {
			return g.DeleteSubscriber(c, key(), msisdn(1))
		}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t, hlr.Config{}, gateway.Config{}, nil)
			s.create(t, 1)
			if err := tt.do(ctx(t), s.client); err != nil {
				t.Fatal(err)
			}
			got, ok := s.hlr.Subscriber(msisdn(1))
			if tt.deleted {
				if ok {
					t.Fatalf("still provisioned: %+v", got)
				}
				_, err := s.client.Subscriber(ctx(t), msisdn(1))
				if pe, ok := errors.AsType[*gateway.ProblemError](err); !ok || pe.Code != gateway.CodeSubscriberNotFound || !errors.Is(err, provisioning.ErrPermanent) {
					t.Errorf("Subscriber after delete: %v, want permanent subscriber_not_found", err)
				}
				return
			}
			want := base()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("simulator state (-want +got):\n%s", diff)
			}
			read, err := s.client.Subscriber(ctx(t), msisdn(1))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, read); diff != "" {
				t.Errorf("client read (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPermanentErrors checks the refusals a retry cannot change: each wraps
// provisioning.ErrPermanent, names its code, and changes nothing.
func TestPermanentErrors(t *testing.T) {
	t.Parallel()
	s := newSim(t, hlr.Config{}, gateway.Config{}, nil)
	s.create(t, 1)
	s.create(t, 2)
	before := s.hlr.Subscribers()
	g := s.client
	tests := []struct {
		name       string
		do         func(context.Context) error
		wantStatus int
		wantCode   string
	}{
		{"create existing msisdn", func(c context.Context) error { return g.CreateSubscriber(c, key(), msisdn(1), imsi(3), iccid(3)) }, 409, "msisdn_exists"},
		{"create on a used IMSI", func(c context.Context) error { return g.CreateSubscriber(c, key(), msisdn(3), imsi(1), iccid(3)) }, 409, "imsi_in_use"},
		{"create on a used ICCID", func(c context.Context) error { return g.CreateSubscriber(c, key(), msisdn(3), imsi(3), iccid(2)) }, 409, "iccid_in_use"},
		{"swap to an IMSI in use", func(c context.Context) error { return g.SwapSIM(c, key(), msisdn(1), imsi(2), iccid(3)) }, 409, "imsi_in_use"},
		{"swap to an ICCID in use", func(c context.Context) error { return g.SwapSIM(c, key(), msisdn(1), imsi(3), iccid(2)) }, 409, "iccid_in_use"},
		{"swap unknown", func(c context.Context) error { return g.SwapSIM(c, key(), msisdn(9), imsi(3), iccid(3)) }, 404, "subscriber_not_found"},
		{"voicemail unknown", func(c context.Context) error {
			return g.SetVoicemail(c, key(), msisdn(9), provisioning.VoicemailSettings{Enabled: true, Language: "en"})
		}, 404, "subscriber_not_found"},
		{"forwarding unknown", func(c context.Context) error {
			return g.SetForwarding(c, key(), msisdn(9), provisioning.ForwardBusy, msisdn(5))
		}, 404, "subscriber_not_found"},
		{"cancel forwarding unknown", func(c context.Context) error {
			return g.SetForwarding(c, key(), msisdn(9), provisioning.ForwardBusy, "")
		}, 404, "subscriber_not_found"},
		{"barring unknown", func(c context.Context) error {
			return g.SetBarring(c, key(), msisdn(9), provisioning.Barring{All: true})
		}, 404, "subscriber_not_found"},
		{"delete unknown", func(c context.Context) error { return g.DeleteSubscriber(c, key(), msisdn(9)) }, 404, "subscriber_not_found"},
		{"get unknown", func(c context.Context) error { _, err := g.Subscriber(c, msisdn(9)); return err }, 404, "subscriber_not_found"},
		{"invalid msisdn", func(c context.Context) error { return g.CreateSubscriber(c, key(), "+447700900001", imsi(3), iccid(3)) }, 422, "invalid_msisdn"},
		{"msisdn with a slash", func(c context.Context) error { return g.SetBarring(c, key(), "4477/009", provisioning.Barring{}) }, 422, "invalid_msisdn"},
		{"invalid ICCID", func(c context.Context) error { return g.SwapSIM(c, key(), msisdn(1), imsi(3), iccid(3)[:18]+"0") }, 422, "invalid_iccid"},
		{"invalid forwarding number", func(c context.Context) error {
			return g.SetForwarding(c, key(), msisdn(1), provisioning.ForwardBusy, "0800")
		}, 422, "invalid_number"},
		{"invalid condition", func(c context.Context) error { return g.SetForwarding(c, key(), msisdn(1), "always", msisdn(5)) }, 422, "invalid_condition"},
		{"voicemail without language", func(c context.Context) error {
			return g.SetVoicemail(c, key(), msisdn(1), provisioning.VoicemailSettings{Enabled: true})
		}, 422, "missing_field"},
		{"empty key", func(c context.Context) error { return g.SetBarring(c, "", msisdn(1), provisioning.Barring{}) }, 0, "invalid_call"},
		{"empty msisdn", func(c context.Context) error { return g.DeleteSubscriber(c, key(), "") }, 0, "invalid_call"},
		{"empty condition", func(c context.Context) error { return g.SetForwarding(c, key(), msisdn(1), "", "") }, 0, "invalid_call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.do(ctx(t))
			if !errors.Is(err, provisioning.ErrPermanent) {
				t.Fatalf("error %v does not wrap ErrPermanent", err)
			}
			pe, ok := errors.AsType[*gateway.ProblemError](err)
			if !ok || pe.Status != tt.wantStatus || pe.Code != tt.wantCode {
				t.Errorf("error %#v, want status %d code %s", err, tt.wantStatus, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantCode) {
				t.Errorf("message %q does not name the code", err)
			}
		})
	}
	t.Cleanup(func() {
		if diff := cmp.Diff(before, s.hlr.Subscribers()); diff != "" {
			t.Errorf("refusals changed the state (-before +after):\n%s", diff)
		}
	})
}

// loseResponses stands for a proxy that loses the gateway's answer to the
// first request with each listed key: the change is applied, the caller gets
// a 504 and retries.
func loseResponses(keys ...string) func(http.Handler) http.Handler {
	var mu sync.Mutex
	lose := map[string]bool{}
	for _, k := range keys {
		lose[k] = true
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			l := lose[r.Header.Get("Idempotency-Key")]
			delete(lose, r.Header.Get("Idempotency-Key"))
			mu.Unlock()
			if !l {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(httptest.NewRecorder(), r)
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusGatewayTimeout)
			_, _ = w.Write([]byte(`{"type":"about:blank","title":"Gateway Timeout","status":504,"code":"upstream_timeout"}`))
		})
	}
}

// TestReplayAfterLostResponse retries changes whose answers were lost, with
// their keys, after other changes: each applies once, and a late retry does
// not undo what came after it.
func TestReplayAfterLostResponse(t *testing.T) {
	t.Parallel()
	s := newSim(t, hlr.Config{}, gateway.Config{}, loseResponses("create", "forward", "swap", "delete"))
	c, g := ctx(t), s.client
	retry := func(name string, op func() error) {
		t.Helper()
		err := op()
		if err == nil || errors.Is(err, provisioning.ErrPermanent) {
			t.Fatalf("%s: first attempt %v, want a transient error", name, err)
		}
		if err := op(); err != nil {
			t.Fatalf("%s: retry: %v", name, err)
		}
	}

	retry("create", func() error { return g.CreateSubscriber(c, "create", msisdn(1), imsi(1), iccid(1)) })
	// Forward on busy (answer lost), cancel it, then the retry of the first arrives.
	fwd := func() error { return g.SetForwarding(c, "forward", msisdn(1), provisioning.ForwardBusy, msisdn(50)) }
	if err := fwd(); err == nil {
		t.Fatal("forward: first answer not lost")
	}
	if err := g.SetForwarding(c, key(), msisdn(1), provisioning.ForwardBusy, ""); err != nil {
		t.Fatal(err)
	}
	if err := fwd(); err != nil {
		t.Fatalf("forward: retry: %v", err)
	}
	// Swap (answer lost), another swap, then the retry of the first.
	swap := func() error { return g.SwapSIM(c, "swap", msisdn(1), imsi(2), iccid(2)) }
	if err := swap(); err == nil {
		t.Fatal("swap: first answer not lost")
	}
	if err := g.SwapSIM(c, key(), msisdn(1), imsi(3), iccid(3)); err != nil {
		t.Fatal(err)
	}
	if err := swap(); err != nil {
		t.Fatalf("swap: retry: %v", err)
	}
	got, _ := s.hlr.Subscriber(msisdn(1))
	want := provisioning.NetworkSubscriber{MSISDN: msisdn(1), IMSI: imsi(3), ICCID: iccid(3), Forwarding: map[provisioning.ForwardingKind]string{}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("late retries changed the state (-want +got):\n%s", diff)
	}
	// SIM 2 was released by the second swap and is free for another number.
	s.create(t, 2)

	retry("delete", func() error { return g.DeleteSubscriber(c, "delete", msisdn(1)) })
	if _, ok := s.hlr.Subscriber(msisdn(1)); ok {
		t.Error("not deleted")
	}
	// The same key with another request is refused for good.
	err := g.DeleteSubscriber(c, "create", msisdn(2))
	if pe, ok := errors.AsType[*gateway.ProblemError](err); !ok || pe.Code != gateway.CodeIdempotencyKeyReused || pe.Status != 422 || !errors.Is(err, provisioning.ErrPermanent) {
		t.Errorf("key reused for another request: %v, want permanent 422 idempotency_key_reused", err)
	}
	if _, ok := s.hlr.Subscriber(msisdn(2)); !ok {
		t.Error("a refused request deleted msisdn 2")
	}
}

// TestTransient checks the failures a retry can mend: none wraps
// ErrPermanent, and none changes the state.
func TestTransient(t *testing.T) {
	t.Parallel()

	t.Run("failure rate 1", func(t *testing.T) {
		t.Parallel()
		s := newSim(t, hlr.Config{}, gateway.Config{}, nil)
		s.create(t, 1)
		before := s.hlr.Subscribers()
		if err := s.hlr.SetFailureRate(1); err != nil {
			t.Fatal(err)
		}
		c, g := ctx(t), s.client
		for name, op := range map[string]func() error{
			"create": func() error { return g.CreateSubscriber(c, key(), msisdn(2), imsi(2), iccid(2)) },
			"swap":   func() error { return g.SwapSIM(c, key(), msisdn(1), imsi(2), iccid(2)) },
			"voicemail": func() error {
				return g.SetVoicemail(c, key(), msisdn(1), provisioning.VoicemailSettings{Enabled: true, Language: "en"})
			},
			"forward": func() error { return g.SetForwarding(c, key(), msisdn(1), provisioning.ForwardBusy, msisdn(5)) },
			"cancel":  func() error { return g.SetForwarding(c, key(), msisdn(1), provisioning.ForwardBusy, "") },
			"barring": func() error { return g.SetBarring(c, key(), msisdn(1), provisioning.Barring{All: true}) },
			"delete":  func() error { return g.DeleteSubscriber(c, key(), msisdn(1)) },
			"get":     func() error { _, err := g.Subscriber(c, msisdn(1)); return err },
		} {
			err := op()
			ra, ok := errors.AsType[*gateway.RetryAfterError](err)
			pe, _ := errors.AsType[*gateway.ProblemError](err)
			var iface interface{ RetryAfter() time.Duration }
			if errors.Is(err, provisioning.ErrPermanent) || !ok || ra.Delay != time.Second || pe == nil || pe.Status != 503 || pe.Code != gateway.CodeUnavailable ||
				!errors.As(err, &iface) || iface.RetryAfter() != time.Second {
				t.Errorf("%s: %v, want a transient 503 unavailable with a 1s Retry-After", name, err)
			}
		}
		if diff := cmp.Diff(before, s.hlr.Subscribers()); diff != "" {
			t.Errorf("failed requests changed the state (-before +after):\n%s", diff)
		}
		got := counters(t, s.reg)
		if n := got["simcore_gateway_requests_total{operation=set_barring,outcome=transient}"]; n != 1 {
			t.Errorf("set_barring transient = %v, want 1", n)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		s := newSim(t, hlr.Config{Latency: 300 * time.Millisecond}, gateway.Config{Timeout: 30 * time.Millisecond}, nil)
		err := s.client.CreateSubscriber(ctx(t), key(), msisdn(1), imsi(1), iccid(1))
		if errors.Is(err, provisioning.ErrPermanent) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v, want a transient deadline error", err)
		}
		if n := counters(t, s.reg)["simcore_gateway_requests_total{operation=create_subscriber,outcome=timeout}"]; n != 1 {
			t.Errorf("timeouts counted %v, want 1", n)
		}
	})

	t.Run("caller cancels", func(t *testing.T) {
		t.Parallel()
		s := newSim(t, hlr.Config{Latency: 300 * time.Millisecond}, gateway.Config{}, nil)
		c, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		err := s.client.SetBarring(c, key(), msisdn(1), provisioning.Barring{})
		if errors.Is(err, provisioning.ErrPermanent) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v, want the caller's context error", err)
		}
		if n := counters(t, s.reg)["simcore_gateway_requests_total{operation=set_barring,outcome=canceled}"]; n != 1 {
			t.Errorf("canceled counted %v, want 1", n)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		ts := httptest.NewServer(http.NotFoundHandler())
		url := ts.URL
		ts.Close()
		g, err := gateway.New(gateway.Config{BaseURL: url, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		err = g.DeleteSubscriber(ctx(t), key(), msisdn(1))
		if err == nil || errors.Is(err, provisioning.ErrPermanent) {
			t.Errorf("%v, want a transient error", err)
		}
	})
}

func TestBadToken(t *testing.T) {
	t.Parallel()
	s := newSim(t, hlr.Config{}, gateway.Config{Token: "wrong-token-7d2e"}, nil)
	err := s.client.CreateSubscriber(ctx(t), key(), msisdn(1), imsi(1), iccid(1))
	pe, ok := errors.AsType[*gateway.ProblemError](err)
	if !errors.Is(err, provisioning.ErrPermanent) || !ok || pe.Status != 401 || pe.Code != gateway.CodeUnauthorized {
		t.Errorf("%v, want permanent 401 unauthorized", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("the error shows the token: %v", err)
	}
	if n := len(s.hlr.Subscribers()); n != 0 {
		t.Errorf("%d subscribers created with a bad token", n)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	const latency = 40 * time.Millisecond
	s := newSim(t, hlr.Config{Latency: latency}, gateway.Config{}, nil)
	start := time.Now()
	s.create(t, 1)
	if took := time.Since(start); took < latency {
		t.Errorf("a request took %s, under the latency %s", took, latency)
	}
}

// TestTokenNotShown checks that the token appears in no error, no metric and
// no logged configuration.
func TestTokenNotShown(t *testing.T) {
	t.Parallel()
	s := newSim(t, hlr.Config{FailureRate: 0.5, Seed: 3}, gateway.Config{}, nil)
	var msgs []string
	for i := range 20 {
		if err := s.client.CreateSubscriber(ctx(t), key(), msisdn(i%3), imsi(i), iccid(i)); err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		msgs = append(msgs, mf.String())
	}
	var b strings.Builder
	b.WriteString((&gateway.Config{BaseURL: s.url, Token: token}).LogValue().String())
	msgs = append(msgs, b.String())
	for _, m := range msgs {
		if strings.Contains(m, token) {
			t.Errorf("token shown in %q", m)
		}
	}
	if len(msgs) < 3 {
		t.Errorf("only %d messages checked", len(msgs))
	}
}
