package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simcore/simcore/netsim/hlr"
	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/workers/gateway"
)

// nopQueue accepts every enqueue; the tests call Apply themselves.
type nopQueue struct{}

func (nopQueue) EnqueueRequest(context.Context, provisioning.Request) error { return nil }
func (nopQueue) EnqueueNotice(context.Context, provisioning.Notice) error   { return nil }

// netService is the service on the test's store and a network simulator
// reached over HTTP through the real gateway client, whose requests go
// through transport when one is given (to lose answers).
func (e *env) netService(t *testing.T, transport ...http.RoundTripper) (*provisioning.Service, *hlr.Server) {
	t.Helper()
	sim, err := hlr.New(hlr.Config{Token: "tok", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sim.Handler())
	t.Cleanup(hs.Close)
	cfg := gateway.Config{BaseURL: hs.URL, Token: "tok", Timeout: 5 * time.Second}
	if len(transport) > 0 {
		cfg.HTTPClient = &http.Client{Transport: transport[0]}
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &provisioning.Service{Store: e.store, Queue: nopQueue{}, Gateway: gw, VoicemailLanguage: provisioning.IsVoicemailLanguage}, sim
}

// TestDatesEndOnStartDayRefused: dates are UTC days, and the database
// requires end_date > start_date, so an end later in time than the start
// but on its UTC day is refused at submission. (It used to be accepted;
// Complete then hit the CHECK on every attempt, and since Complete's errors
// were not counted the request stayed in progress for ever, holding back
// every later request of the line.)
func TestDatesEndOnStartDayRefused(t *testing.T) {
	e := newEnv(t)
	l := e.line(t)
	svc, _ := e.netService(t)
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 2)
	end := start.Add(12 * time.Hour) // same UTC day as start
	r, err := svc.Submit(e.ctx, l.id, provisioning.KindDates, mustJSON(provisioning.DatesParams{Start: start, End: &end}), "test")
	if errors.Is(err, provisioning.ErrInvalid) {
		return // refused at submission: fine
	}
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	var last error
	for range provisioning.MaxAttempts + 2 {
		last = svc.Apply(e.ctx, r.ID)
	}
	got, err := e.store.Request(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.State.Terminal() {
		t.Errorf("dates request with end on start's UTC day: after %d applies it is %s with %d attempts (last Apply: %v); want refused at submission or failed with a reason",
			provisioning.MaxAttempts+2, got.State, got.Attempts, last)
	}
	// The line is wedged: a later change waits behind it.
	v, err := svc.Submit(e.ctx, l.id, provisioning.KindAPNSMS, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.StartRequest(e.ctx, v.ID, time.Now()); errors.Is(err, provisioning.ErrNotReady) {
		t.Errorf("a later request of the line is held back for ever: %v", err)
	}
}

// TestDatesChangeOnLiveLineActivationIsNoop: changing the end date of a
// line that is on the network (the start must be today or later) schedules
// an activation that the gateway answers 409 msisdn_exists. The network has
// the line on its SIM, so the activation is done, as docs/network.md
// allows; it used to fail.
func TestDatesChangeOnLiveLineActivationIsNoop(t *testing.T) {
	e := newEnv(t)
	svc, _ := e.netService(t)
	l := e.line(t)
	today := time.Now().UTC().Truncate(24 * time.Hour)

	// First dates request: activates the line on the network.
	apply := func(kind provisioning.Kind, p any) []provisioning.Request {
		t.Helper()
		r, err := svc.Submit(e.ctx, l.id, kind, mustJSON(p), "test")
		if err != nil {
			t.Fatalf("Submit %s: %v", kind, err)
		}
		if err := svc.Apply(e.ctx, r.ID); err != nil {
			t.Fatalf("Apply %s: %v", kind, err)
		}
		reqs, err := e.store.ListRequests(e.ctx, l.id, 50)
		if err != nil {
			t.Fatal(err)
		}
		var scheduled []provisioning.Request
		for _, s := range reqs {
			if s.RequestedBy == "schedule:"+r.ID {
				scheduled = append(scheduled, s)
			}
		}
		return scheduled
	}
	for _, s := range apply(provisioning.KindDates, provisioning.DatesParams{Start: today}) {
		if err := svc.Apply(e.ctx, s.ID); err != nil {
			t.Fatalf("first activation: %v", err)
		}
	}
	// Now only the end date changes.
	end := today.AddDate(0, 1, 0)
	for _, s := range apply(provisioning.KindDates, provisioning.DatesParams{Start: today, End: &end}) {
		if s.Kind != provisioning.KindActivate {
			continue
		}
		err := svc.Apply(e.ctx, s.ID)
		got, _ := e.store.Request(e.ctx, s.ID)
		if got.State != provisioning.StateDone {
			t.Errorf("activation scheduled by an end-date change on a live line: %s (%s; Apply: %v), want done (the line is on the network as asked)",
				got.State, got.LastError, err)
		}
	}
}

// TestConcurrentOverlappingImports: two imports of files that share
// cards, in different orders, at the same time. Each stores its new cards
// and reports the shared ones as rejects; neither fails (they deadlocked).
func TestConcurrentOverlappingImports(t *testing.T) {
	e := newEnv(t)
	var shared []provisioning.SIMImportRow
	for range 200 {
		shared = append(shared, newSIMRow())
	}
	rev := make([]provisioning.SIMImportRow, len(shared))
	for i, r := range shared {
		rev[len(shared)-1-i] = r
	}
	for round := range 5 {
		// fresh cards each round
		if round > 0 {
			for i := range shared {
				shared[i] = newSIMRow()
				rev[len(shared)-1-i] = shared[i]
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		res := make([]int, 2)
		for i, rows := range [][]provisioning.SIMImportRow{shared, rev} {
			wg.Go(func() {
				r, err := e.store.ImportSIMs(e.ctx, rows, hasher)
				errs[i], res[i] = err, r.Imported
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: import %d of two overlapping files failed: %v", round, i, err)
			}
		}
		if res[0]+res[1] != len(shared) {
			t.Fatalf("round %d: imported %d+%d, want %d in all", round, res[0], res[1], len(shared))
		}
	}
}

// blockingGateway holds SwapSIM after the network has applied it, until
// release is closed.
type blockingGateway struct {
	provisioning.Gateway
	swapped, release chan struct{}
}

func (g *blockingGateway) SwapSIM(ctx context.Context, key, msisdn, imsi, iccid string) error {
	err := g.Gateway.SwapSIM(ctx, key, msisdn, imsi, iccid)
	close(g.swapped)
	<-g.release
	return err
}

// TestScheduledRequestWaitsForLaterOneInFlight: a scheduled deactivation
// (created earlier by a dates change) that falls due while a later request
// of the line (a SIM swap) is in progress waits for it: one change in
// flight per line. It used to start at once (only lower seqs were looked
// at); the swap then completed on an ended line and left its new SIM
// active on no live line.
func TestScheduledRequestWaitsForLaterOneInFlight(t *testing.T) {
	e := newEnv(t)
	svc, _ := e.netService(t)
	l := e.line(t)
	e.activeOnNetwork(t, svc, l)
	version := e.subscription(t, l.id).DatesVersion
	// A deactivation scheduled (as a dates change's Complete creates it)
	// for later, then a SIM swap asked now. The deactivation falls due
	// while the swap is in flight: it is started as of a time after its due
	// time. (The test used to sleep until a due time 700 ms ahead; on a busy
	// machine the swap could start after it, wait for the deactivation,
	// and the test then waited for the swap for ever.)
	due := time.Now().Add(time.Hour)
	deact := e.request(t, l.id, provisioning.KindDeactivate, provisioning.ScheduleParams{DatesVersion: version}, due)
	x := e.sim(t)
	sw, err := svc.Submit(e.ctx, l.id, provisioning.KindSIMSwap, mustJSON(provisioning.SIMSwapParams{NewICCID: x.ICCID}), "test")
	if err != nil {
		t.Fatal(err)
	}
	bg := &blockingGateway{Gateway: svc.Gateway, swapped: make(chan struct{}), release: make(chan struct{})}
	swapSvc := *svc
	swapSvc.Gateway = bg
	swapDone := make(chan error, 1)
	go func() { swapDone <- swapSvc.Apply(e.ctx, sw.ID) }()
	select {
	case <-bg.swapped: // the swap is in flight (in_progress, applied on the network)
	case err := <-swapDone:
		t.Fatalf("the swap ended before it reached the network: %v", err)
	}

	_, _, startErr := e.store.StartRequest(e.ctx, deact.ID, due.Add(time.Second))
	inFlight := startErr == nil
	if inFlight {
		// carry the deactivation out as a worker would
		_ = e.store.RetryLater(e.ctx, deact.ID, "test")
		if err := svc.Apply(e.ctx, deact.ID); err != nil {
			t.Logf("apply deactivation: %v", err)
		}
	}
	close(bg.release)
	if err := <-swapDone; err != nil {
		t.Logf("apply swap: %v", err)
	}
	if inFlight {
		t.Errorf("deactivation (seq before the swap, now due) started while the swap of the same line was in_progress: two changes in flight on one line; want ErrNotReady")
	}
	sub := e.subscription(t, l.id)
	if st := e.simState(t, x.ICCID); sub.Status == provisioning.StatusEnded && st == provisioning.SIMActive {
		t.Errorf("after the race: subscription %s on SIM %s, and SIM %s is %s (an active SIM on no live line, never to be retired)", sub.Status, sub.ICCID, x.ICCID, st)
	}
}

// activeOnNetwork puts line l on the simulator through a dates request and
// its activation.
func (e *env) activeOnNetwork(t *testing.T, svc *provisioning.Service, l line) {
	t.Helper()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	d, err := svc.Submit(e.ctx, l.id, provisioning.KindDates, mustJSON(provisioning.DatesParams{Start: today}), "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Apply(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	reqs, _ := e.store.ListRequests(e.ctx, l.id, 10)
	for _, r := range reqs {
		if r.Kind == provisioning.KindActivate && r.State == provisioning.StatePending {
			if err := svc.Apply(e.ctx, r.ID); err != nil {
				t.Fatalf("activate: %v", err)
			}
		}
	}
}

// TestResumeOfActiveLineConflicts: a resume of an active line fails with
// ErrConflict, as documented, instead of being done and telling the
// subscriber the service was resumed.
func TestResumeOfActiveLineConflicts(t *testing.T) {
	e := newEnv(t)
	svc, _ := e.netService(t)
	l := e.line(t)
	e.activeOnNetwork(t, svc, l)
	r, err := svc.Submit(e.ctx, l.id, provisioning.KindResume, nil, "test")
	if errors.Is(err, provisioning.ErrConflict) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	applyErr := svc.Apply(e.ctx, r.ID)
	got, _ := e.store.Request(e.ctx, r.ID)
	var notices int
	_ = e.pool.QueryRow(e.ctx, `SELECT count(*) FROM notice_outbox WHERE request_id = $1`, r.ID).Scan(&notices)
	if got.State != provisioning.StateFailed || !errors.Is(applyErr, provisioning.ErrConflict) {
		t.Errorf("resume of an active line: %s (Apply: %v), %d service_resumed notices queued; want refused/failed with ErrConflict", got.State, applyErr, notices)
	}
}

// TestForwardingToOwnNumberRefused: forwarding a line to its own MSISDN (a
// call loop) is refused, not applied on the network.
func TestForwardingToOwnNumberRefused(t *testing.T) {
	e := newEnv(t)
	svc, sim := e.netService(t)
	l := e.line(t)
	e.activeOnNetwork(t, svc, l)
	r, err := svc.Submit(e.ctx, l.id, provisioning.KindForwarding, mustJSON(provisioning.ForwardingParams{Condition: provisioning.ForwardBusy, Number: l.msisdn}), "test")
	if errors.Is(err, provisioning.ErrInvalid) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = svc.Apply(e.ctx, r.ID)
	ns, _ := sim.Subscriber(l.msisdn)
	if got, _ := e.store.Request(e.ctx, r.ID); got.State == provisioning.StateDone {
		t.Errorf("forwarding busy calls of %s to %s itself: request %s, network forwarding %v; want refused (ErrInvalid)", l.msisdn, l.msisdn, got.State, ns.Forwarding)
	}
}

// TestSupersededScheduleAfterEndIsSkipped: a deactivation superseded by
// a later dates change, which already ended the line, is done as skipped,
// not failed with "subscription has ended".
func TestSupersededScheduleAfterEndIsSkipped(t *testing.T) {
	e := newEnv(t)
	svc, _ := e.netService(t)
	l := e.line(t)
	e.activeOnNetwork(t, svc, l)
	v := e.subscription(t, l.id).DatesVersion
	// The schedules two dates changes made: the first (superseded) and the
	// second, whose deactivation ends the line.
	old := e.request(t, l.id, provisioning.KindDeactivate, provisioning.ScheduleParams{DatesVersion: v - 1}, time.Now().Add(time.Hour))
	cur := e.request(t, l.id, provisioning.KindDeactivate, provisioning.ScheduleParams{DatesVersion: v}, time.Time{})
	if err := svc.Apply(e.ctx, cur.ID); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	err := svc.Apply(e.ctx, old.ID)
	got, _ := e.store.Request(e.ctx, old.ID)
	if got.State != provisioning.StateDone {
		t.Errorf("superseded deactivation after the line ended: %s (%s; Apply: %v), want done with outcome skipped/superseded", got.State, got.LastError, err)
	}
}

// lostAnswerTransport sends requests on, but loses the answer of the first
// PUT .../sim: the change lands and the caller sees a broken connection.
type lostAnswerTransport struct {
	mu   sync.Mutex
	lost bool
}

func (t *lostAnswerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil && !t.lost && r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/sim") {
		t.lost = true
		resp.Body.Close()
		return nil, errors.New("connection reset by peer")
	}
	return resp, err
}

// TestSwapWithLostAnswerMatchesNetwork: a SIM swap whose first answer is
// lost (it landed) and whose retries all fail. It used to fail after
// MaxAttempts and put the new SIM back in stock while the network had the
// number on it. Now, before giving up, the worker reads the network: while
// it cannot, the request stays open and the SIM reserved; once it can and
// the swap is there, the request is done.
func TestSwapWithLostAnswerMatchesNetwork(t *testing.T) {
	e := newEnv(t)
	svc, sim := e.netService(t, &lostAnswerTransport{})
	l := e.line(t)
	e.activeOnNetwork(t, svc, l)
	x := e.sim(t)
	r, err := svc.Submit(e.ctx, l.id, provisioning.KindSIMSwap, mustJSON(provisioning.SIMSwapParams{NewICCID: x.ICCID}), "test")
	if err != nil {
		t.Fatal(err)
	}
	_ = svc.Apply(e.ctx, r.ID) // lands; answer lost
	if ns, _ := sim.Subscriber(l.msisdn); ns.ICCID != x.ICCID {
		t.Fatalf("the first attempt did not land: network has SIM %s", ns.ICCID)
	}
	if err := sim.SetFailureRate(1); err != nil { // the HLR answers 503 to everything
		t.Fatal(err)
	}
	for range provisioning.MaxAttempts + 2 {
		_ = svc.Apply(e.ctx, r.ID)
	}
	got, _ := e.store.Request(e.ctx, r.ID)
	if st := e.simState(t, x.ICCID); got.State.Terminal() || st != provisioning.SIMReserved {
		t.Errorf("network unreadable after %d attempts: request %s (%s), SIM %s; want the request open and the SIM reserved", got.Attempts, got.State, got.LastError, st)
	}
	if !strings.Contains(got.LastError, "cannot be read") {
		t.Errorf("last error %q, want it to say the network cannot be read", got.LastError)
	}
	if err := sim.SetFailureRate(0); err != nil {
		t.Fatal(err)
	}
	if err := svc.Apply(e.ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = e.store.Request(e.ctx, r.ID)
	if st := e.simState(t, x.ICCID); got.State != provisioning.StateDone || st != provisioning.SIMActive || e.subscription(t, l.id).ICCID != x.ICCID {
		t.Errorf("after the network came back: request %s, SIM %s; want done, active, the line on it", got.State, st)
	}
}

// TestGiveUpReadsTheNetwork: a voicemail change whose every attempt meets
// a lost answer is done when the network shows it (the change landed); a
// forwarding change the network never took fails after MaxAttempts.
func TestGiveUpReadsTheNetwork(t *testing.T) {
	e := newEnv(t)
	lose := &loseWrites{}
	svc, _ := e.netService(t, lose)
	l := e.line(t)
	e.activeOnNetwork(t, svc, l)

	lose.set(true, true) // every write lands, every answer is lost
	vm, err := svc.Submit(e.ctx, l.id, provisioning.KindVoicemail, mustJSON(provisioning.VoicemailParams{Enabled: true, Language: "he"}), "test")
	if err != nil {
		t.Fatal(err)
	}
	for range provisioning.MaxAttempts {
		_ = svc.Apply(e.ctx, vm.ID)
	}
	got, _ := e.store.Request(e.ctx, vm.ID)
	if got.State != provisioning.StateDone || !strings.Contains(string(got.Outcome), "found_on_network") {
		t.Errorf("voicemail change on the network, answers lost: request %s (%s), outcome %s; want done, found on the network", got.State, got.LastError, got.Outcome)
	}
	if s := e.subscription(t, l.id); !s.Voicemail.Enabled || s.Voicemail.Language != "he" {
		t.Errorf("subscription voicemail %+v, want on in he", s.Voicemail)
	}

	lose.set(false, true) // writes never reach the network
	fw, err := svc.Submit(e.ctx, l.id, provisioning.KindForwarding, mustJSON(provisioning.ForwardingParams{Condition: provisioning.ForwardBusy, Number: "447700900999"}), "test")
	if err != nil {
		t.Fatal(err)
	}
	for range provisioning.MaxAttempts {
		_ = svc.Apply(e.ctx, fw.ID)
	}
	got, _ = e.store.Request(e.ctx, fw.ID)
	if got.State != provisioning.StateFailed || !strings.Contains(got.LastError, "gave up") {
		t.Errorf("forwarding never on the network: request %s (%s); want failed after MaxAttempts", got.State, got.LastError)
	}
}

// TestGiveUpReadsTheOutgoingBar: a bar_outgoing whose every answer is lost
// is done when the network shows the outgoing bar with the data bar kept as
// the line has it (landed compares the whole barring); an unbar_outgoing
// the network never took fails, and the line stays recorded as barred.
func TestGiveUpReadsTheOutgoingBar(t *testing.T) {
	e := newEnv(t)
	lose := &loseWrites{}
	svc, sim := e.netService(t, lose)
	l := e.line(t)
	e.activeOnNetwork(t, svc, l)
	apply := func(kind provisioning.Kind) provisioning.Request {
		t.Helper()
		r, err := svc.SubmitSystem(e.ctx, l.id, kind, mustJSON(provisioning.BarringParams{Reason: "test"}), "rating:test")
		if err != nil {
			t.Fatal(err)
		}
		for range provisioning.MaxAttempts {
			_ = svc.Apply(e.ctx, r.ID)
		}
		got, _ := e.store.Request(e.ctx, r.ID)
		return got
	}
	if got := apply(provisioning.KindBarData); got.State != provisioning.StateDone {
		t.Fatalf("bar_data: %s (%s)", got.State, got.LastError)
	}

	lose.set(true, true) // every write lands, every answer is lost
	got := apply(provisioning.KindBarOutgoing)
	if got.State != provisioning.StateDone || !strings.Contains(string(got.Outcome), "found_on_network") {
		t.Errorf("outgoing bar on the network, answers lost: request %s (%s), outcome %s; want done, found on the network", got.State, got.LastError, got.Outcome)
	}
	if s := e.subscription(t, l.id); !s.OutgoingBarred || !s.DataBarred {
		t.Errorf("subscription data barred %v, outgoing barred %v; want both", s.DataBarred, s.OutgoingBarred)
	}
	if ns, _ := sim.Subscriber(l.msisdn); ns.Barring != (provisioning.Barring{Data: true, Outgoing: true}) {
		t.Errorf("network barring %+v, want data and outgoing", ns.Barring)
	}

	lose.set(false, true) // writes never reach the network
	got = apply(provisioning.KindUnbarOutgoing)
	if got.State != provisioning.StateFailed || !strings.Contains(got.LastError, "gave up") {
		t.Errorf("unbar never on the network: request %s (%s); want failed after MaxAttempts", got.State, got.LastError)
	}
	if s := e.subscription(t, l.id); !s.OutgoingBarred {
		t.Error("a failed unbar_outgoing recorded the bar as lifted")
	}
}

// loseWrites breaks the gateway's writes (not its reads): with landing,
// the write reaches the network and its answer is lost; without, it never
// leaves.
type loseWrites struct {
	mu          sync.Mutex
	on, landing bool
}

func (l *loseWrites) set(landing, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.landing, l.on = landing, on
}

func (l *loseWrites) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	on, landing := l.on, l.landing
	l.mu.Unlock()
	if !on || r.Method == http.MethodGet {
		return http.DefaultTransport.RoundTrip(r)
	}
	if !landing {
		return nil, errors.New("connection refused")
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body.Close()
	}
	return nil, errors.New("connection reset by peer")
}

// TestDatesChangeKeepsLiveStart: setting the end date of a live line may
// keep its current start, though that start is past: moving the start to
// today moved its periods (and left the usage before it unrated). A past
// start other than the line's own is still refused, and so is keeping the
// start of a line that has not started.
func TestDatesChangeKeepsLiveStart(t *testing.T) {
	e := newEnv(t)
	svc, _ := e.netService(t)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	start := today.AddDate(0, 0, -10)
	c := e.customer(t)
	m := e.sim(t)
	id, err := e.store.CreateSubscription(e.ctx, c.subscriber.ID, c.plan.ID, newMSISDN(), m.ICCID, start)
	if err != nil {
		t.Fatal(err)
	}
	l := line{id: id, sim: m, customer: c}
	l.msisdn = e.subscription(t, id).MSISDN
	e.activeOnNetwork(t, svc, l) // a dates request starting today; the activation
	// (Its start is today now; put the line back on its past start, as a
	// line that has run for ten days has.)
	if _, err := e.pool.Exec(e.ctx, `UPDATE subscriptions SET start_date = $2 WHERE id = $1`, id, start); err != nil {
		t.Fatal(err)
	}

	end := today.AddDate(0, 1, 0)
	r, err := svc.Submit(e.ctx, id, provisioning.KindDates, mustJSON(provisioning.DatesParams{Start: start, End: &end}), "test")
	if err != nil {
		t.Fatalf("a new end date keeping the line's start %s: %v", start.Format(time.DateOnly), err)
	}
	if err := svc.Apply(e.ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	reqs, _ := e.store.ListRequests(e.ctx, id, 50)
	for _, s := range reqs {
		if s.RequestedBy == "schedule:"+r.ID && s.Kind == provisioning.KindActivate {
			if err := svc.Apply(e.ctx, s.ID); err != nil {
				t.Fatalf("the activation at the kept start: %v", err)
			}
			if got, _ := e.store.Request(e.ctx, s.ID); got.State != provisioning.StateDone {
				t.Errorf("activation at the kept start: %s (%s), want done", got.State, got.LastError)
			}
		}
	}
	sub := e.subscription(t, id)
	if !sub.StartDate.Equal(start) || sub.EndDate == nil || !sub.EndDate.Equal(end) || sub.Status != provisioning.StatusActive {
		t.Errorf("subscription %s to %v (%s), want %s to %s, active", sub.StartDate, sub.EndDate, sub.Status, start, end)
	}

	if _, err := svc.Submit(e.ctx, id, provisioning.KindDates, mustJSON(provisioning.DatesParams{Start: start.AddDate(0, 0, 1), End: &end}), "test"); !errors.Is(err, provisioning.ErrInvalid) {
		t.Errorf("a past start that is not the line's: %v, want ErrInvalid", err)
	}
	pending, err := e.store.CreateSubscription(e.ctx, c.subscriber.ID, c.plan.ID, newMSISDN(), e.sim(t).ICCID, today.AddDate(0, 0, 5))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Submit(e.ctx, pending, provisioning.KindDates, mustJSON(provisioning.DatesParams{Start: today.AddDate(0, 0, -1)}), "test"); !errors.Is(err, provisioning.ErrInvalid) {
		t.Errorf("a past start on a line not started: %v, want ErrInvalid", err)
	}
}
