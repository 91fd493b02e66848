package gateway_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/netsim/hlr"
	"github.com/simcore/simcore/workers/gateway"
)

const token = "gw-test-token-5f1c"

// sim is a simulator served on 127.0.0.1 and a client talking to it.
type sim struct {
	hlr    *hlr.Server
	url    string
	client *gateway.Client
	reg    *prometheus.Registry // the client's metrics
}

// newSim starts a simulator (cfg's token and logger filled in) behind wrap,
// if not nil, and a client with ccfg's timeout.
func newSim(t testing.TB, cfg hlr.Config, ccfg gateway.Config, wrap func(http.Handler) http.Handler) *sim {
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
	h := s.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	reg := prometheus.NewRegistry()
	ccfg.BaseURL, ccfg.Registry = ts.URL, reg
	if ccfg.Token == "" {
		ccfg.Token = token
	}
	c, err := gateway.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	return &sim{hlr: s, url: ts.URL, client: c, reg: reg}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func key() string { return rand.Text() }

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

// create provisions SIM n as subscriber n.
func (s *sim) create(t testing.TB, n int) {
	t.Helper()
	if err := s.client.CreateSubscriber(ctx(t), key(), msisdn(n), imsi(n), iccid(n)); err != nil {
		t.Fatalf("create %d: %v", n, err)
	}
}

// counters returns the client's counters as "name{label=value,...}" → value.
func counters(t testing.TB, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.Counter == nil {
				continue
			}
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}
