package hlr_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/netsim/hlr"
	"github.com/simcore/simcore/provisioning"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name    string
		cfg     hlr.Config
		wantErr string
	}{
		{"ok", hlr.Config{Token: "t", Log: log}, ""},
		{"ok always failing", hlr.Config{Token: "t", Log: log, FailureRate: 1, Latency: time.Second}, ""},
		{"no token", hlr.Config{Log: log}, "empty token"},
		{"no logger", hlr.Config{Token: "t"}, "no logger"},
		{"negative latency", hlr.Config{Token: "t", Log: log, Latency: -1}, "negative latency"},
		{"rate above 1", hlr.Config{Token: "t", Log: log, FailureRate: 1.5}, "failure rate"},
		{"negative rate", hlr.Config{Token: "t", Log: log, FailureRate: -0.1}, "failure rate"},
		{"NaN rate", hlr.Config{Token: "t", Log: log, FailureRate: math.NaN()}, "failure rate"},
		{"negative keys", hlr.Config{Token: "t", Log: log, MaxKeys: -1}, "max keys"},
		{"negative ttl", hlr.Config{Token: "t", Log: log, KeyTTL: -time.Second}, "key TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := hlr.New(tt.cfg)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("New: %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigLogValueHidesToken(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("start", "cfg", hlr.Config{Token: "sekrit-token", Latency: time.Millisecond})
	if strings.Contains(b.String(), "sekrit") || !strings.Contains(b.String(), "latency=1ms") {
		t.Errorf("log line %q", b.String())
	}
}

// TestIdempotency checks that a key replays its first outcome, whatever
// happened since, and refuses a different request.
func TestIdempotency(t *testing.T) {
	t.Parallel()
	sim, base := newServer(t, hlr.Config{})
	create(t, base, 1)
	fwd := "/v1/subscribers/" + msisdn(1) + "/forwarding/busy"

	first := send(t, base, request{method: "PUT", path: fwd, key: "k1", body: `{"number":"447700900111"}`})
	if first.status != 200 || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v", first.status, first.header)
	}
	if r := send(t, base, request{method: "DELETE", path: fwd, key: "k2"}); r.status != 200 {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	// The same request again, spelled differently: the stored answer, no change.
	again := send(t, base, request{method: "PUT", path: fwd, key: "k1", body: " {\n \"number\" : \"447700900111\" } "})
	if again.status != 200 || again.body != first.body || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d %q replayed=%q, want 200 %q replayed", again.status, again.body, again.header.Get("Idempotent-Replayed"), first.body)
	}
	if sub, _ := sim.Subscriber(msisdn(1)); len(sub.Forwarding) != 0 {
		t.Errorf("replay applied the change again: forwarding %v", sub.Forwarding)
	}

	for _, tt := range []struct {
		name string
		req  request
	}{
		{"other body", request{method: "PUT", path: fwd, key: "k1", body: `{"number":"447700900222"}`}},
		{"other condition", request{method: "PUT", path: strings.Replace(fwd, "busy", "no_reply", 1), key: "k1", body: `{"number":"447700900111"}`}},
		{"other operation", request{method: "DELETE", path: fwd, key: "k1"}},
		{"other subscriber", request{method: "PUT", path: strings.Replace(fwd, msisdn(1), msisdn(2), 1), key: "k1", body: `{"number":"447700900111"}`}},
	} {
		if r := send(t, base, tt.req); r.status != 422 || r.problem.Code != "idempotency_key_reused" {
			t.Errorf("%s: %d %s, want 422 idempotency_key_reused", tt.name, r.status, r.problem.Code)
		}
	}

	// A refusal decided against the data is final for its key too ...
	nf := request{method: "DELETE", path: "/v1/subscribers/" + msisdn(2), key: "k3"}
	if r := send(t, base, nf); r.status != 404 {
		t.Fatalf("delete unknown: %d", r.status)
	}
	create(t, base, 2)
	if r := send(t, base, nf); r.status != 404 || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replayed refusal: %d replayed=%q, want the stored 404", r.status, r.header.Get("Idempotent-Replayed"))
	}
	// ... but one refused before that (422) does not bind its key.
	if r := send(t, base, request{method: "PUT", path: fwd, key: "k4", body: `{"number":"+44"}`}); r.status != 422 {
		t.Fatalf("invalid number: %d", r.status)
	}
	if r := send(t, base, request{method: "PUT", path: fwd, key: "k4", body: `{"number":"447700900333"}`}); r.status != 200 {
		t.Errorf("key after a validation refusal: %d %s, want 200", r.status, r.problem.Code)
	}
}

// TestKeysForgotten checks both bounds of the key store: the count and the age.
func TestKeysForgotten(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  hlr.Config
		wait time.Duration
	}{
		{"by count", hlr.Config{MaxKeys: 2}, 0},
		{"by age", hlr.Config{KeyTTL: 20 * time.Millisecond}, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim, base := newServer(t, tt.cfg)
			create(t, base, 1)
			del := request{method: "DELETE", path: "/v1/subscribers/" + msisdn(1), key: "old"}
			if r := send(t, base, del); r.status != 204 {
				t.Fatalf("delete: %d", r.status)
			}
			create(t, base, 1) // two newer keys: "old" is the oldest of the last three
			create(t, base, 2)
			time.Sleep(tt.wait)
			r := send(t, base, del)
			if r.status != 204 || r.header.Get("Idempotent-Replayed") != "" {
				t.Errorf("forgotten key: %d replayed=%q, want a new 204", r.status, r.header.Get("Idempotent-Replayed"))
			}
			if _, ok := sim.Subscriber(msisdn(1)); ok {
				t.Error("the delete under a forgotten key was not applied")
			}
		})
	}
}

// TestInvariantsUnderConcurrency races creates, swaps and deletes over a
// small pool of SIMs and checks that no SIM ever ends up on two numbers.
func TestInvariantsUnderConcurrency(t *testing.T) {
	t.Parallel()
	sim, base := newServer(t, hlr.Config{})
	const workers, rounds, sims = 8, 40, 6
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				n, s := (w+i)%4, (w*7+i)%sims
				var r request
				switch i % 3 {
				case 0:
					r = request{method: "POST", path: "/v1/subscribers", body: fmt.Sprintf(`{"msisdn":%q,"imsi":%q,"iccid":%q}`, msisdn(n), imsi(s), iccid(s))}
				case 1:
					r = request{method: "PUT", path: "/v1/subscribers/" + msisdn(n) + "/sim", body: fmt.Sprintf(`{"imsi":%q,"iccid":%q}`, imsi(s), iccid(s))}
				case 2:
					r = request{method: "DELETE", path: "/v1/subscribers/" + msisdn((n+1)%4)}
				}
				if got := send(t, base, r); got.status >= 500 {
					t.Errorf("%s %s: %d", r.method, r.path, got.status)
				}
			}
		})
	}
	wg.Wait()
	imsis, iccids := map[string]string{}, map[string]string{}
	for _, s := range sim.Subscribers() {
		if m, dup := imsis[s.IMSI]; dup {
			t.Errorf("IMSI %s on %s and %s", s.IMSI, m, s.MSISDN)
		}
		if m, dup := iccids[s.ICCID]; dup {
			t.Errorf("ICCID %s on %s and %s", s.ICCID, m, s.MSISDN)
		}
		imsis[s.IMSI], iccids[s.ICCID] = s.MSISDN, s.MSISDN
	}
}

// TestSwapKeepsServices checks that a swap moves the number and its
// services, and frees the old SIM for another number.
func TestSwapKeepsServices(t *testing.T) {
	t.Parallel()
	sim, base := newServer(t, hlr.Config{})
	create(t, base, 1)
	p := "/v1/subscribers/" + msisdn(1)
	for _, r := range []request{
		{method: "PUT", path: p + "/voicemail", body: `{"enabled":true,"language":"he"}`},
		{method: "PUT", path: p + "/forwarding/no_reply", body: `{"number":"447700900555"}`},
		{method: "PUT", path: p + "/barring", body: `{"all":false,"data":true,"outgoing":true}`},
		{method: "PUT", path: p + "/sim", body: fmt.Sprintf(`{"imsi":%q,"iccid":%q}`, imsi(2), iccid(2))},
	} {
		if got := send(t, base, r); got.status != 200 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, got.status, got.body)
		}
	}
	got, _ := sim.Subscriber(msisdn(1))
	want := provisioning.NetworkSubscriber{
		MSISDN: msisdn(1), IMSI: imsi(2), ICCID: iccid(2),
		Voicemail:  provisioning.VoicemailSettings{Enabled: true, Language: "he"},
		Forwarding: map[provisioning.ForwardingKind]string{provisioning.ForwardNoReply: "447700900555"},
		Barring:    provisioning.Barring{Data: true, Outgoing: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after swap (-want +got):\n%s", diff)
	}
	create(t, base, 9) // SIM 1 is free again: msisdn 9 may not take SIM 2 ...
	if r := send(t, base, request{method: "PUT", path: "/v1/subscribers/" + msisdn(9) + "/sim", body: fmt.Sprintf(`{"imsi":%q,"iccid":%q}`, imsi(1), iccid(1))}); r.status != 200 {
		t.Errorf("swap to the freed SIM: %d %s", r.status, r.problem.Code)
	}
}

func TestLatencyAndFailures(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	const latency = 30 * time.Millisecond
	sim, base := newServer(t, hlr.Config{Latency: latency, FailureRate: 1, Seed: 1, Registry: reg})
	start := time.Now()
	r := send(t, base, request{method: "POST", path: "/v1/subscribers", body: fmt.Sprintf(`{"msisdn":%q,"imsi":%q,"iccid":%q}`, msisdn(1), imsi(1), iccid(1))})
	if took := time.Since(start); took < latency {
		t.Errorf("answered in %s, under the latency %s", took, latency)
	}
	if r.status != 503 || r.problem.Code != "unavailable" || r.header.Get("Retry-After") != "1" {
		t.Errorf("got %d %s Retry-After %q, want 503 unavailable 1", r.status, r.problem.Code, r.header.Get("Retry-After"))
	}
	if n := len(sim.Subscribers()); n != 0 {
		t.Errorf("a failed request created %d subscribers", n)
	}
	if err := sim.SetFailureRate(0); err != nil {
		t.Fatal(err)
	}
	create(t, base, 1)
	if err := sim.SetFailureRate(2); err == nil {
		t.Error("SetFailureRate(2) accepted")
	}

	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				got[key] = m.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{
		"simcore_netsim_hlr_requests_total,code=503,operation=create_subscriber": 1,
		"simcore_netsim_hlr_requests_total,code=201,operation=create_subscriber": 1,
		"simcore_netsim_hlr_subscribers":                                         1,
		"simcore_netsim_hlr_idempotency_keys":                                    1,
		"simcore_netsim_hlr_idempotent_replays_total":                            0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestClientLeavesDuringLatency checks that a request whose caller gives up
// during the latency changes nothing.
func TestClientLeavesDuringLatency(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	// The caller leaves once the server has its request, not after a fixed
	// time: a short client timeout could run out before the request reached
	// the server (dialling and writing can take that long on a busy
	// machine), and then nothing is counted at all. The latency is long so
	// that the server cannot answer first however late it runs; it stops
	// waiting as soon as it sees the caller gone.
	const latency = 10 * time.Second
	sim, err := hlr.New(hlr.Config{Token: token, Log: slog.New(slog.DiscardHandler), Latency: latency, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	arrived := make(chan struct{})
	var once sync.Once
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(arrived) })
		sim.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
		}
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/subscribers", strings.NewReader(fmt.Sprintf(`{"msisdn":%q,"imsi":%q,"iccid":%q}`, msisdn(1), imsi(1), iccid(1))))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "gone")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d although the caller left during the %s latency", resp.StatusCode, latency)
	}
	select {
	case <-arrived:
	default:
		t.Fatal("the request never reached the server")
	}
	waitCounter(t, reg, "simcore_netsim_hlr_requests_total", "499", 1)
	if n := len(sim.Subscribers()); n != 0 {
		t.Errorf("an abandoned request created %d subscribers", n)
	}
}

// waitCounter waits up to 5 s for the counter with the given code label to reach want.
func waitCounter(t *testing.T, reg *prometheus.Registry, name, code string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var got float64
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "code" && l.GetValue() == code {
						got += m.GetCounter().GetValue()
					}
				}
			}
		}
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s{code=%q} = %v after 5s, want %v", name, code, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBarringBodyMustBeWhole: a barring body without one of its three bars
// is refused, so an old client that knows only all and data cannot lift an
// outgoing bar by leaving it out; the whole body sets each bar on its own.
func TestBarringBodyMustBeWhole(t *testing.T) {
	t.Parallel()
	sim, base := newServer(t, hlr.Config{})
	create(t, base, 1)
	p := "/v1/subscribers/" + msisdn(1) + "/barring"
	tests := []struct {
		name       string
		body       string
		wantStatus int
		want       provisioning.Barring
	}{
		{"outgoing only", `{"all":false,"data":false,"outgoing":true}`, 200, provisioning.Barring{Outgoing: true}},
		{"without outgoing", `{"all":false,"data":false}`, 422, provisioning.Barring{Outgoing: true}},
		{"data too", `{"all":false,"data":true,"outgoing":true}`, 200, provisioning.Barring{Data: true, Outgoing: true}},
		{"lift outgoing, keep data", `{"all":false,"data":true,"outgoing":false}`, 200, provisioning.Barring{Data: true}},
		{"without data", `{"all":true,"outgoing":true}`, 422, provisioning.Barring{Data: true}},
		{"suspend, keep data", `{"all":true,"data":true,"outgoing":false}`, 200, provisioning.Barring{All: true, Data: true}},
	}
	for _, tt := range tests { // in order: each step starts from the last
		got := send(t, base, request{method: "PUT", path: p, body: tt.body})
		if got.status != tt.wantStatus {
			t.Fatalf("%s: %d %s, want %d", tt.name, got.status, got.body, tt.wantStatus)
		}
		if tt.wantStatus == 422 && got.problem.Code != "missing_field" {
			t.Errorf("%s: code %s, want missing_field", tt.name, got.problem.Code)
		}
		ns, _ := sim.Subscriber(msisdn(1))
		if ns.Barring != tt.want {
			t.Errorf("%s: barring %+v, want %+v", tt.name, ns.Barring, tt.want)
		}
	}
}
