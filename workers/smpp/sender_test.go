package smpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/simcore/simcore/netsim/smsc"
	"github.com/simcore/simcore/provisioning"
)

const (
	testSystemID = "simcore"
	testPassword = "secret"
)

// startSMSC starts a simulator on a free loopback port for one test.
func startSMSC(t testing.TB, cfg smsc.Config) *smsc.Server {
	t.Helper()
	cfg.SystemID, cfg.Password = testSystemID, testPassword
	cfg.Log = slog.New(slog.DiscardHandler)
	cfg.Registry = prometheus.NewRegistry()
	s, err := smsc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newSender returns an unstarted Sender for addr with test-friendly
// timings, and its metrics registry.
func newSender(t testing.TB, addr string, mod func(*Config)) (*Sender, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{
		Addr: addr, SystemID: testSystemID, Password: testPassword,
		SourceAddr:   "simcore",
		RespTimeout:  2 * time.Second,
		EnquireLink:  time.Second,
		ReconnectMin: 10 * time.Millisecond,
		ReconnectMax: 100 * time.Millisecond,
		Log:          slog.New(slog.DiscardHandler),
		Registry:     reg,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, reg
}

// startSender starts a Sender against sim and waits until it is bound.
func startSender(t testing.TB, sim *smsc.Server, mod func(*Config)) (*Sender, *prometheus.Registry) {
	t.Helper()
	s, reg := newSender(t, sim.Addr(), mod)
	startBound(t, s)
	return s, reg
}

func startBound(t testing.TB, s *Sender) {
	t.Helper()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitBound(ctx); err != nil {
		t.Fatal(err)
	}
}

// metricValue reads a counter or gauge from reg; labels as name=value pairs.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStartBinds(t *testing.T) {
	t.Parallel()
	sim := startSMSC(t, smsc.Config{})
	tests := []struct {
		name     string
		systemID string
		password string
		status   uint32 // 0: bound
	}{
		{"bound", testSystemID, testPassword, 0},
		{"wrong password", testSystemID, "guess", 0x0E},
		{"unknown system id", "mallory", testPassword, 0x0D},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, reg := newSender(t, sim.Addr(), func(c *Config) { c.SystemID, c.Password = tt.systemID, tt.password })
			if err := s.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tt.status == 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := s.WaitBound(ctx); err != nil {
					t.Fatal(err)
				}
				// A session is published, and WaitBound may return, just
				// before its gauge is set.
				for _, typ := range []string{kindTransmitter, kindReceiver} {
					waitFor(t, typ+" up", func() bool { return metricValue(t, reg, "simcore_smpp_session_up", "type", typ) == 1 })
				}
				return
			}
			// Refused: it keeps retrying (however slowly a busy machine
			// lets it), and WaitBound, running out, names the refusal.
			waitFor(t, "refused transmitter binds retried", func() bool {
				return metricValue(t, reg, "simcore_smpp_binds_total", "type", kindTransmitter, "outcome", "refused") >= 2
			})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err := s.WaitBound(ctx)
			var se *StatusError
			if !errors.As(err, &se) || se.Status != tt.status || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("WaitBound() = %v, want the deadline and StatusError %#x", err, tt.status)
			}
			if _, err := s.SendSMS(context.Background(), provisioning.SMS{To: "4512345678", Text: "x"}); !errors.Is(err, ErrNotBound) {
				t.Errorf("SendSMS unbound: %v, want ErrNotBound", err)
			}
		})
	}
}

// Started before the SMSC listens (a worker may start first): it binds
// once the SMSC comes up.
func TestStartBeforeSMSC(t *testing.T) {
	t.Parallel()
	sim := startSMSC(t, smsc.Config{})
	addr := sim.Addr()
	sim.Close()
	s, reg := newSender(t, addr, nil)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Once a dial has failed (however late a busy machine runs it),
	// WaitBound, running out, names the dial error.
	waitFor(t, "a failed dial", func() bool {
		return metricValue(t, reg, "simcore_smpp_binds_total", "type", kindTransmitter, "outcome", "error") >= 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := s.WaitBound(ctx)
	var se *StatusError
	if err == nil || errors.As(err, &se) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("WaitBound() = %v, want the dial error", err)
	}
	startSMSC(t, smsc.Config{Addr: addr})
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitBound(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendSMS(context.Background(), provisioning.SMS{To: "4512345678", Text: "hello"}); err != nil {
		t.Fatal(err)
	}
}

func TestSendTexts(t *testing.T) {
	t.Parallel()
	sim := startSMSC(t, smsc.Config{})
	s, _ := startSender(t, sim, func(c *Config) { c.Rate = -1 })
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 9)[:400]
	tests := []struct {
		name   string
		to     string
		from   string
		text   string
		coding byte
		parts  int
	}{
		{"english", "4511111111", "", textEN, codingGSM7, 1},
		{"danish", "4511111112", "4587654321", textDA, codingGSM7, 1},
		{"hebrew", "9721111111", "", textHE, codingUCS2, 1},
		{"russian", "7911111111", "", textRU, codingUCS2, 1},
		{"400 characters", "4511111113", "", long, codingGSM7, 3},
		{"long russian", "7911111112", "", strings.Repeat(textRU+" ", 4), codingUCS2, 3},
		{"escape at a part boundary", "4511111114", "", strings.Repeat("a", 152) + "€" + strings.Repeat("b", 30), codingGSM7, 2},
		{"surrogate at a part boundary", "4511111115", "", strings.Repeat("ж", 66) + "😀" + strings.Repeat("ж", 10), codingUCS2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := s.SendSMS(context.Background(), provisioning.SMS{To: tt.to, From: tt.from, Text: tt.text})
			if err != nil {
				t.Fatal(err)
			}
			if res.Parts != tt.parts || len(res.MessageIDs) != tt.parts {
				t.Fatalf("result %+v, want %d parts", res, tt.parts)
			}
			var got []smsc.Message
			for _, m := range sim.Messages() {
				if m.Destination == tt.to {
					got = append(got, m)
				}
			}
			if len(got) != tt.parts {
				t.Fatalf("simulator has %d parts, want %d", len(got), tt.parts)
			}
			wantFrom := cmpOr(tt.from, "simcore")
			for i, m := range got {
				if m.ID != res.MessageIDs[i] || m.DataCoding != tt.coding || m.Source != wantFrom {
					t.Errorf("part %d: id %s coding %#x source %q, want %s %#x %q",
						i+1, m.ID, m.DataCoding, m.Source, res.MessageIDs[i], tt.coding, wantFrom)
				}
				if tt.parts > 1 && (int(m.Part) != i+1 || int(m.Total) != tt.parts || m.Ref != got[0].Ref) {
					t.Errorf("part %d: concat %d/%d ref %d", i+1, m.Part, m.Total, m.Ref)
				}
			}
			if full := got[len(got)-1].FullText; full != tt.text {
				t.Errorf("reassembled by the simulator\n got %q\nwant %q", full, tt.text)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// 500 messages with 20 outstanding at a time: every receipt arrives and
// names the id SendSMS returned, also when the SMSC writes it in another
// base in the text only.
func TestReceiptsCorrelate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  smsc.Config
	}{
		{"decimal ids with TLVs", smsc.Config{RespDelay: time.Millisecond, ReceiptDelay: 5 * time.Millisecond}},
		{"hex answered, decimal receipted, no TLVs", smsc.Config{
			RespDelay: time.Millisecond, ReceiptDelay: 5 * time.Millisecond,
			IDFormat: smsc.IDHex, ReceiptIDFormat: smsc.IDDecimal, OmitReceiptTLVs: true}},
		// The receipt is sent at once and the answer held: the receipt is
		// read before the id it names is known.
		{"receipt before the answer", smsc.Config{
			RespDelay: 20 * time.Millisecond,
			IDFormat:  smsc.IDHex, ReceiptIDFormat: smsc.IDDecimal, OmitReceiptTLVs: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const n, window = 500, 20
			sim := startSMSC(t, tt.cfg)
			var mu sync.Mutex
			receipts := map[string]provisioning.DeliveryReceipt{}
			s, reg := startSender(t, sim, func(c *Config) {
				c.Window, c.Rate = window, -1
				c.OnReceipt = func(r provisioning.DeliveryReceipt) error {
					mu.Lock()
					receipts[r.MessageID] = r
					mu.Unlock()
					return nil
				}
			})
			ids := sendMany(t, s, n, 2*window)
			waitFor(t, "all receipts", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(receipts) >= n
			})
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				r, ok := receipts[id]
				if !ok {
					t.Fatalf("no receipt for %s", id)
				}
				if r.State != "DELIVRD" || r.Err != "000" || r.Done.IsZero() {
					t.Errorf("receipt %+v", r)
				}
			}
			if len(receipts) != n {
				t.Errorf("%d distinct receipt ids, want %d", len(receipts), n)
			}
			if v := metricValue(t, reg, "simcore_smpp_receipts_uncorrelated_total"); v != 0 {
				t.Errorf("uncorrelated receipts %v", v)
			}
			if max := sim.Stats().MaxOutstanding; max > window {
				t.Errorf("simulator saw %d outstanding, window %d", max, window)
			}
		})
	}
}

// sendMany sends n single-part messages from workers goroutines and returns
// their message ids.
func sendMany(t testing.TB, s *Sender, n, workers int) []string {
	t.Helper()
	var (
		mu   sync.Mutex
		ids  []string
		errs []error
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				res, err := s.SendSMS(context.Background(), provisioning.SMS{To: fmt.Sprintf("45%08d", i), Text: "hello"})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					ids = append(ids, res.MessageIDs...)
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d sends failed, first: %v", len(errs), errs[0])
	}
	return ids
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       smsc.Config
		sms       provisioning.SMS
		permanent bool
		status    []uint32 // the StatusError's status, one of; nil: no StatusError
		outcome   string   // simcore_smpp_submits_total outcome counted; "" none
	}{
		{"rejected destination", smsc.Config{RejectPrefixes: []string{"999"}},
			provisioning.SMS{To: "99912345", Text: "x"}, true, []uint32{0x0B}, outcomeRejected},
		{"transient failures", smsc.Config{FailureRate: 1},
			provisioning.SMS{To: "4512345678", Text: "x"}, false, []uint32{0x58, 0x08}, ""},
		{"bad destination, not sent", smsc.Config{},
			provisioning.SMS{To: "+45 1234", Text: "x"}, true, nil, ""},
		{"bad sender, not sent", smsc.Config{},
			provisioning.SMS{To: "4512345678", From: "much too long", Text: "x"}, true, nil, ""},
		{"empty text, not sent", smsc.Config{},
			provisioning.SMS{To: "4512345678", Text: ""}, true, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim := startSMSC(t, tt.cfg)
			s, reg := startSender(t, sim, nil)
			for range 5 {
				_, err := s.SendSMS(context.Background(), tt.sms)
				if err == nil {
					t.Fatal("no error")
				}
				if got := errors.Is(err, provisioning.ErrPermanent); got != tt.permanent {
					t.Fatalf("%v: permanent %v, want %v", err, got, tt.permanent)
				}
				var se *StatusError
				if tt.status == nil {
					if errors.As(err, &se) {
						t.Fatalf("%v: sent to the SMSC", err)
					}
					continue
				}
				if !errors.As(err, &se) || !slices.Contains(tt.status, se.Status) {
					t.Fatalf("%v: want a StatusError with one of %#x", err, tt.status)
				}
			}
			if tt.outcome != "" {
				if v := metricValue(t, reg, "simcore_smpp_submits_total", "outcome", tt.outcome); v != 5 {
					t.Errorf("submits{outcome=%s} = %v, want 5", tt.outcome, v)
				}
			}
			if tt.status == nil && sim.Stats().Submits != 0 {
				t.Errorf("simulator received %d submits", sim.Stats().Submits)
			}
		})
	}
}

// Half the submits fail transiently; each error is transient, and every
// success is a message the simulator accepted.
func TestSendMixedFailures(t *testing.T) {
	t.Parallel()
	sim := startSMSC(t, smsc.Config{FailureRate: 0.5})
	s, reg := startSender(t, sim, func(c *Config) { c.Rate = -1 })
	var ok, failed int
	for i := range 200 {
		_, err := s.SendSMS(context.Background(), provisioning.SMS{To: fmt.Sprintf("45%08d", i), Text: "x"})
		switch {
		case err == nil:
			ok++
		case errors.Is(err, provisioning.ErrPermanent):
			t.Fatalf("permanent: %v", err)
		default:
			failed++
		}
	}
	if ok == 0 || failed == 0 || sim.Stats().Accepted != ok {
		t.Errorf("ok %d failed %d, simulator accepted %d", ok, failed, sim.Stats().Accepted)
	}
	th := metricValue(t, reg, "simcore_smpp_submits_total", "outcome", outcomeThrottled)
	er := metricValue(t, reg, "simcore_smpp_submits_total", "outcome", outcomeError)
	if int(th+er) != failed {
		t.Errorf("throttled %v + error %v, want %d", th, er, failed)
	}
}

// The simulator is killed and restarted on the same port: sends fail
// transiently meanwhile, then both sessions come back and sends and
// receipts flow again.
func TestReconnectAfterSMSCRestart(t *testing.T) {
	t.Parallel()
	sim := startSMSC(t, smsc.Config{})
	addr := sim.Addr()
	receipts := make(chan provisioning.DeliveryReceipt, 16)
	s, reg := startSender(t, sim, func(c *Config) {
		c.OnReceipt = func(r provisioning.DeliveryReceipt) error { receipts <- r; return nil }
	})
	sms := provisioning.SMS{To: "4512345678", Text: "before"}
	if _, err := s.SendSMS(context.Background(), sms); err != nil {
		t.Fatal(err)
	}
	<-receipts
	sim.Close()
	waitFor(t, "session lost", func() bool {
		_, err := s.SendSMS(context.Background(), sms)
		if err != nil && errors.Is(err, provisioning.ErrPermanent) {
			t.Fatalf("permanent error while the SMSC is down: %v", err)
		}
		return errors.Is(err, ErrNotBound)
	})
	sim2 := startSMSC(t, smsc.Config{Addr: addr})
	var res provisioning.SMSResult
	waitFor(t, "send after restart", func() bool {
		var err error
		res, err = s.SendSMS(context.Background(), provisioning.SMS{To: "4512345678", Text: "after"})
		return err == nil
	})
	select {
	case r := <-receipts:
		if r.MessageID != res.MessageIDs[0] {
			t.Errorf("receipt for %s, want %s", r.MessageID, res.MessageIDs[0])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no receipt after the restart")
	}
	if sim2.Stats().Binds != 2 {
		t.Errorf("binds at the restarted simulator %d, want 2", sim2.Stats().Binds)
	}
	for _, typ := range []string{kindTransmitter, kindReceiver} {
		waitFor(t, "reconnect counted", func() bool {
			return metricValue(t, reg, "simcore_smpp_reconnects_total", "type", typ) >= 1
		})
	}
}

// Many callers, a slow SMSC: the SMSC never sees more outstanding than the
// window, and the window empties afterwards.
func TestWindowNeverExceeded(t *testing.T) {
	t.Parallel()
	const window = 5
	sim := startSMSC(t, smsc.Config{RespDelay: 20 * time.Millisecond})
	s, reg := startSender(t, sim, func(c *Config) { c.Window, c.Rate = window, -1 })
	sendMany(t, s, 100, 40)
	st := sim.Stats()
	if st.MaxOutstanding > window {
		t.Errorf("simulator saw %d outstanding, window %d", st.MaxOutstanding, window)
	}
	if st.MaxOutstanding < 2 {
		t.Errorf("simulator saw at most %d outstanding: the test did not load the window", st.MaxOutstanding)
	}
	if v := metricValue(t, reg, "simcore_smpp_window_in_use"); v != 0 {
		t.Errorf("window in use %v after the sends", v)
	}
	if v := metricValue(t, reg, "simcore_smpp_window_size"); v != window {
		t.Errorf("window size metric %v", v)
	}
}

// Rate 50/s over 150 messages: the simulator sees them spread over about
// three seconds, and never much more than 50 in any second.
//
// The simulator stamps a message when its reader gets to it, so a busy
// machine delays some arrivals and bunches them with later ones: 58
// messages were once seen within one second. The bounds allow half a
// second of such jitter (25 messages at this rate), and a sender without
// the limit still fails both by far.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	const rate, n, jitter = 50, 150, 25
	sim := startSMSC(t, smsc.Config{})
	s, reg := startSender(t, sim, func(c *Config) { c.Window, c.Rate = 10, rate })
	sendMany(t, s, n, 20)
	msgs := sim.Messages()
	if len(msgs) != n {
		t.Fatalf("%d messages", len(msgs))
	}
	var times []time.Time
	for _, m := range msgs {
		times = append(times, m.Received)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	// Lower bound: n-1 intervals of 1/rate (2.98 s), less the jitter;
	// slowness only adds.
	if span, least := times[n-1].Sub(times[0]), time.Duration(n-1-jitter)*time.Second/rate; span < least {
		t.Errorf("%d messages over %v at %d/s, want at least %v", n, span, rate, least)
	}
	most := 0
	for i := range times {
		j := i
		for j < n && times[j].Sub(times[i]) < time.Second {
			j++
		}
		most = max(most, j-i)
	}
	if most > rate+jitter {
		t.Errorf("%d messages within one second, rate %d", most, rate)
	}
	if v := metricValue(t, reg, "simcore_smpp_rate_limit_submits_per_second"); v != rate {
		t.Errorf("rate metric %v", v)
	}
}

func TestTimeoutIsTransientAndFreesWindow(t *testing.T) {
	t.Parallel()
	sim := startSMSC(t, smsc.Config{RespDelay: 500 * time.Millisecond})
	s, reg := startSender(t, sim, func(c *Config) { c.RespTimeout = 100 * time.Millisecond; c.Window = 1 })
	for range 2 { // a leaked window slot would block the second send
		_, err := s.SendSMS(context.Background(), provisioning.SMS{To: "4512345678", Text: "x"})
		if !errors.Is(err, ErrTimeout) || errors.Is(err, provisioning.ErrPermanent) {
			t.Fatalf("SendSMS = %v, want a transient ErrTimeout", err)
		}
	}
	if v := metricValue(t, reg, "simcore_smpp_submits_total", "outcome", outcomeTimeout); v != 2 {
		t.Errorf("timeouts counted %v", v)
	}
	// The late answers are dropped, not matched to anything.
	time.Sleep(600 * time.Millisecond)
	if v := metricValue(t, reg, "simcore_smpp_window_in_use"); v != 0 {
		t.Errorf("window in use %v", v)
	}
}

// A caller that gives up while its submit is outstanding gets ctx's error at
// once; the window slot stays taken until the SMSC answers.
func TestCancelWhileOutstanding(t *testing.T) {
	t.Parallel()
	// The caller gives up once the SMSC has the submit, not after a fixed
	// time that a busy machine can spend before sending it; the answer is
	// held long enough that the slot is surely still taken when checked.
	sim := startSMSC(t, smsc.Config{RespDelay: 2 * time.Second})
	s, reg := startSender(t, sim, func(c *Config) { c.Window, c.RespTimeout = 1, 10*time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for deadline := time.Now().Add(10 * time.Second); sim.Stats().Submits == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := s.SendSMS(ctx, provisioning.SMS{To: "4512345678", Text: "x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("SendSMS = %v, want Canceled", err)
	}
	if n := sim.Stats().Submits; n != 1 {
		t.Fatalf("the SMSC received %d submits before the caller gave up, want 1", n)
	}
	if v := metricValue(t, reg, "simcore_smpp_window_in_use"); v != 1 {
		t.Errorf("window in use %v while the submit is outstanding, want 1", v)
	}
	waitFor(t, "answer frees the window", func() bool { return metricValue(t, reg, "simcore_smpp_window_in_use") == 0 })
	// The outcome is counted just after the slot is freed.
	waitFor(t, "answer counted", func() bool { return metricValue(t, reg, "simcore_smpp_submits_total", "outcome", outcomeOK) >= 1 })
	if v := metricValue(t, reg, "simcore_smpp_submits_total", "outcome", outcomeOK); v != 1 {
		t.Errorf("ok submits %v", v)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	sim := startSMSC(t, smsc.Config{})
	s, _ := startSender(t, sim, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close unbinds each session politely and waits for the answer.
	if st := sim.Stats(); st.Unbinds != st.Binds || st.Binds == 0 {
		t.Errorf("after Close the SMSC saw %d binds and %d unbinds, want every session unbound", st.Binds, st.Unbinds)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.SendSMS(context.Background(), provisioning.SMS{To: "4512345678", Text: "x"}); !errors.Is(err, ErrClosed) {
		t.Errorf("SendSMS after Close = %v, want ErrClosed", err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	base := Config{Addr: "127.0.0.1:2775", SystemID: "simcore"}
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"minimal", func(*Config) {}, true},
		{"no port", func(c *Config) { c.Addr = "127.0.0.1" }, false},
		{"no system id", func(c *Config) { c.SystemID = "" }, false},
		{"negative window", func(c *Config) { c.Window = -1 }, false},
		{"unlimited rate", func(c *Config) { c.Rate = -1 }, true},
		{"reconnect min above max", func(c *Config) { c.ReconnectMin, c.ReconnectMax = time.Minute, time.Second }, false},
		{"bad source", func(c *Config) { c.SourceAddr = "+45" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base
			tt.mod(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestReceiptDeferredUntilRecorded: a receipt that overtakes the recording
// of its message (OnReceipt returns ErrMessageNotFound) is answered with
// ESME_RX_T_APPN, and the SMSC's redelivery is matched to the message and
// recorded; a final receipt's id is still known at the redelivery. A
// receipt for a message this Sender never submitted is acknowledged at
// once, since no later try could match it.
func TestReceiptDeferredUntilRecorded(t *testing.T) {
	t.Parallel()
	sim := startSMSC(t, smsc.Config{ReceiptDelay: time.Millisecond})
	var mu sync.Mutex
	recorded := map[string]bool{} // message ids the store knows
	calls := map[string]int{}
	var got []provisioning.DeliveryReceipt
	s, reg := startSender(t, sim, func(c *Config) {
		c.OnReceipt = func(r provisioning.DeliveryReceipt) error {
			mu.Lock()
			defer mu.Unlock()
			calls[r.MessageID]++
			if !recorded[r.MessageID] {
				return fmt.Errorf("receipt: %w", provisioning.ErrMessageNotFound)
			}
			got = append(got, r)
			return nil
		}
	})
	res, err := s.SendSMS(context.Background(), provisioning.SMS{To: "4512345678", Text: "overtaken"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.MessageIDs[0]
	waitFor(t, "the first delivery, deferred", func() bool {
		return metricValue(t, reg, "simcore_smpp_receipts_deferred_total") >= 1
	})
	mu.Lock()
	recorded[id] = true // the worker stores the id now
	mu.Unlock()
	waitFor(t, "the redelivered receipt, recorded", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	})
	mu.Lock()
	if got[0].MessageID != id || got[0].State != "DELIVRD" || calls[id] < 2 {
		t.Errorf("recorded %+v after %d deliveries; want %s DELIVRD after 2 or more", got[0], calls[id], id)
	}
	mu.Unlock()
	if v := metricValue(t, reg, "simcore_smpp_receipts_uncorrelated_total"); v != 0 {
		t.Errorf("uncorrelated receipts %v: the redelivery must match its message", v)
	}
	// The Sender records the receipt before its deliver_sm_resp reaches the
	// SMSC, so wait for the acknowledgement; then it must be the only one.
	waitFor(t, "the redelivery acknowledged", func() bool { return sim.Stats().ReceiptsAcked >= 1 })
	if st := sim.Stats(); st.ReceiptsAcked != 1 || st.ReceiptsSent < 2 {
		t.Errorf("the SMSC sent %d receipts and saw %d acknowledged, want 2 or more sent and 1 acknowledged (the redelivery)", st.ReceiptsSent, st.ReceiptsAcked)
	}

	// A Sender that never submitted the message (one restarted since, say)
	// gets its receipt: acknowledged, not redelivered for ever.
	sim2 := startSMSC(t, smsc.Config{ReceiptDelay: 200 * time.Millisecond})
	first, _ := startSender(t, sim2, nil)
	if _, err := first.SendSMS(context.Background(), provisioning.SMS{To: "4512345678", Text: "before a restart"}); err != nil {
		t.Fatal(err)
	}
	first.Close() // the receipt is due in 200 ms, after the new Sender binds
	_, reg2 := startSender(t, sim2, func(c *Config) {
		c.OnReceipt = func(r provisioning.DeliveryReceipt) error {
			return fmt.Errorf("receipt: %w", provisioning.ErrMessageNotFound)
		}
	})
	waitFor(t, "the stranger's receipt acknowledged", func() bool { return sim2.Stats().ReceiptsAcked == 1 })
	if v := metricValue(t, reg2, "simcore_smpp_receipts_deferred_total"); v != 0 {
		t.Errorf("deferred %v receipts for a message this Sender never submitted", v)
	}
}

// TestNoReceipt: a message sent with NoReceipt asks the SMSC for no
// receipt (registered_delivery 0), so nothing comes back that no one would
// record; the others still ask for one.
func TestNoReceipt(t *testing.T) {
	t.Parallel()
	sim := startSMSC(t, smsc.Config{ReceiptDelay: time.Millisecond})
	var mu sync.Mutex
	receipts := map[string]int{}
	s, reg := startSender(t, sim, func(c *Config) {
		c.OnReceipt = func(r provisioning.DeliveryReceipt) error {
			mu.Lock()
			defer mu.Unlock()
			receipts[r.MessageID]++
			return nil
		}
	})
	quiet, err := s.SendSMS(context.Background(), provisioning.SMS{To: "4512345678", Text: "no receipt, please", NoReceipt: true})
	if err != nil {
		t.Fatal(err)
	}
	// Sent after the first, due after it: once its receipt is in, the
	// first one's would be too.
	loud, err := s.SendSMS(context.Background(), provisioning.SMS{To: "4512345678", Text: "a receipt, please"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the receipt of the second message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return receipts[loud.MessageIDs[0]] == 1
	})
	waitFor(t, "its acknowledgement", func() bool { return sim.Stats().ReceiptsAcked >= 1 })
	mu.Lock()
	if n := receipts[quiet.MessageIDs[0]]; n != 0 || len(receipts) != 1 {
		t.Errorf("receipts %v; want one, for %s only", receipts, loud.MessageIDs[0])
	}
	mu.Unlock()
	asked := map[string]byte{}
	for _, m := range sim.Messages() {
		asked[m.ID] = m.RegisteredDelivery
	}
	if asked[quiet.MessageIDs[0]] != 0 || asked[loud.MessageIDs[0]] != 1 {
		t.Errorf("registered_delivery %v; want 0 for %s and 1 for %s", asked, quiet.MessageIDs[0], loud.MessageIDs[0])
	}
	if st := sim.Stats(); st.ReceiptsSent != 1 {
		t.Errorf("the SMSC sent %d receipts, want 1", st.ReceiptsSent)
	}
	if v := metricValue(t, reg, "simcore_smpp_receipts_uncorrelated_total"); v != 0 {
		t.Errorf("uncorrelated receipts %v", v)
	}
}
