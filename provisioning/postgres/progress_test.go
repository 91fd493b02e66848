package postgres_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/provisioning"
)

func TestStartRequestOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type step struct {
		do   string // start, complete, fail, retry
		req  int    // index into the scenario's requests
		at   time.Duration
		want error
	}
	hour := time.Hour
	for _, c := range []struct {
		name      string
		notBefore []time.Duration // per request, from now; created in this order
		steps     []step
	}{
		{"later request waits for the earlier", []time.Duration{0, 0}, []step{
			{"start", 1, 0, provisioning.ErrNotReady},
			{"start", 0, 0, nil},
			{"start", 1, 0, provisioning.ErrNotReady},
			{"complete", 0, 0, nil},
			{"start", 1, 0, nil},
		}},
		{"a failed request does not block", []time.Duration{0, 0}, []step{
			{"start", 0, 0, nil},
			{"fail", 0, 0, nil},
			{"start", 1, 0, nil},
		}},
		{"a request retried later still blocks", []time.Duration{0, 0}, []step{
			{"start", 0, 0, nil},
			{"retry", 0, 0, nil},
			{"start", 1, 0, provisioning.ErrNotReady},
			{"start", 0, 0, nil},
		}},
		{"a future request does not block", []time.Duration{hour, 0}, []step{
			{"start", 1, 0, nil},
			{"complete", 1, 0, nil},
		}},
		{"a future request blocks once due", []time.Duration{hour, 0}, []step{
			{"start", 1, 2 * hour, provisioning.ErrNotReady},
			{"start", 0, 2 * hour, nil},
		}},
		{"three in a row", []time.Duration{0, 0, 0}, []step{
			{"start", 2, 0, provisioning.ErrNotReady},
			{"start", 0, 0, nil},
			{"complete", 0, 0, nil},
			{"start", 2, 0, provisioning.ErrNotReady},
			{"start", 1, 0, nil},
			{"complete", 1, 0, nil},
			{"start", 2, 0, nil},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := e.line(t)
			other := e.line(t) // another subscription's open request never blocks
			e.request(t, other.id, provisioning.KindSuspend, nil, time.Time{})
			now := time.Now()
			reqs := make([]provisioning.Request, len(c.notBefore))
			for i, nb := range c.notBefore {
				reqs[i] = e.request(t, l.id, provisioning.KindAPNSMS, nil, now.Add(nb))
			}
			for i, s := range c.steps {
				id := reqs[s.req].ID
				var err error
				switch s.do {
				case "start":
					_, _, err = e.store.StartRequest(e.ctx, id, now.Add(s.at))
				case "complete":
					err = e.store.Complete(e.ctx, id, nil, provisioning.Change{})
				case "fail":
					err = e.store.Fail(e.ctx, id, "refused")
				case "retry":
					err = e.store.RetryLater(e.ctx, id, "busy")
				}
				if (s.want == nil) != (err == nil) || !errors.Is(err, s.want) && s.want != nil {
					t.Fatalf("step %d: %s request %d: %v, want %v", i, s.do, s.req, err, s.want)
				}
			}
		})
	}
}

func TestStartRequestStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	r := e.request(t, l.id, provisioning.KindAPNSMS, nil, time.Time{})

	got, sub, err := e.store.StartRequest(e.ctx, r.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.State != provisioning.StateInProgress || got.Attempts != 1 {
		t.Errorf("first start: %s, %d attempts; want in_progress, 1", got.State, got.Attempts)
	}
	// The subscription comes with the start, as Subscription reads it.
	if d := cmp.Diff(e.subscription(t, l.id), sub); d != "" {
		t.Errorf("subscription from StartRequest (-want +got):\n%s", d)
	}
	// Its worker died: a second start takes it over.
	got = e.start(t, r.ID)
	if got.State != provisioning.StateInProgress || got.Attempts != 2 {
		t.Errorf("restart: %s, %d attempts; want in_progress, 2", got.State, got.Attempts)
	}
	if err := e.store.RetryLater(e.ctx, r.ID, "gateway busy"); err != nil {
		t.Fatal(err)
	}
	got, _ = e.store.Request(e.ctx, r.ID)
	if got.State != provisioning.StatePending || got.LastError != "gateway busy" || got.Attempts != 2 {
		t.Errorf("after RetryLater: %s, %q, %d attempts; want pending, gateway busy, 2", got.State, got.LastError, got.Attempts)
	}
	got = e.start(t, r.ID)
	if got.Attempts != 3 {
		t.Errorf("third start: %d attempts, want 3", got.Attempts)
	}
	e.complete(t, r.ID, provisioning.Change{})
	done, _ := e.store.Request(e.ctx, r.ID)
	// A finished request is returned as it is, and RetryLater leaves it.
	got = e.start(t, r.ID)
	if d := cmp.Diff(done, got, cmp.Comparer(jsonEqual)); d != "" {
		t.Errorf("start of a done request changed it (-want +got):\n%s", d)
	}
	if err := e.store.RetryLater(e.ctx, r.ID, "late"); err != nil {
		t.Errorf("RetryLater of a done request: %v", err)
	}
	got, _ = e.store.Request(e.ctx, r.ID)
	if d := cmp.Diff(done, got, cmp.Comparer(jsonEqual)); d != "" {
		t.Errorf("RetryLater of a done request changed it (-want +got):\n%s", d)
	}
}

// TestStartRequestConcurrent: starts of the same subscription's requests
// racing each other never start the later one while the earlier is open,
// and every start of the earlier one is counted.
func TestStartRequestConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	a := e.request(t, l.id, provisioning.KindAPNSMS, nil, time.Time{})
	b := e.request(t, l.id, provisioning.KindAPNSMS, nil, time.Time{})
	const starts = 6
	var wg sync.WaitGroup
	errsA, errsB := make([]error, starts), make([]error, starts)
	for i := range starts {
		wg.Go(func() { _, _, errsA[i] = e.store.StartRequest(e.ctx, a.ID, time.Now()) })
		wg.Go(func() { _, _, errsB[i] = e.store.StartRequest(e.ctx, b.ID, time.Now()) })
	}
	wg.Wait()
	for i := range starts {
		wantErr(t, "start A", errsA[i], nil)
		wantErr(t, "start B", errsB[i], provisioning.ErrNotReady)
	}
	got, _ := e.store.Request(e.ctx, a.ID)
	if got.Attempts != starts {
		t.Errorf("A: %d attempts, want %d", got.Attempts, starts)
	}
	got, _ = e.store.Request(e.ctx, b.ID)
	if got.State != provisioning.StatePending || got.Attempts != 0 {
		t.Errorf("B: %s, %d attempts; want pending, 0", got.State, got.Attempts)
	}
}

func TestComplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// One day for the whole table: a change and its expectation computed
	// on either side of midnight would disagree.
	today := day(time.Now())
	end := today.AddDate(0, 2, 0)
	for _, c := range []struct {
		name   string
		before []provisioning.Change // completed first, by other requests
		change func(l line, newSIM provisioning.SIM) provisioning.Change
		want   func(s *provisioning.Subscription, newSIM provisioning.SIM)
	}{
		{name: "swap", change: func(_ line, m provisioning.SIM) provisioning.Change { return provisioning.Change{SwapTo: &m} },
			want: func(s *provisioning.Subscription, m provisioning.SIM) {
				s.ICCID, s.IMSI, s.PastICCIDs = m.ICCID, m.IMSI, []string{s.ICCID}
			}},
		{name: "voicemail", change: func(line, provisioning.SIM) provisioning.Change {
			return provisioning.Change{Voicemail: &provisioning.VoicemailSettings{Enabled: true, Language: "ar"}}
		}, want: func(s *provisioning.Subscription, _ provisioning.SIM) {
			s.Voicemail = provisioning.VoicemailSettings{Enabled: true, Language: "ar"}
		}},
		{name: "forwarding set", change: func(line, provisioning.SIM) provisioning.Change {
			return provisioning.Change{Forwarding: &provisioning.ForwardingParams{Condition: provisioning.ForwardNoReply, Number: "4420000001"}}
		}, want: func(s *provisioning.Subscription, _ provisioning.SIM) {
			s.Forwarding = map[provisioning.ForwardingKind]string{provisioning.ForwardNoReply: "4420000001"}
		}},
		{name: "forwarding replaced", before: []provisioning.Change{
			{Forwarding: &provisioning.ForwardingParams{Condition: provisioning.ForwardBusy, Number: "4420000001"}},
			{Forwarding: &provisioning.ForwardingParams{Condition: provisioning.ForwardUnconditional, Number: "4420000003"}},
		}, change: func(line, provisioning.SIM) provisioning.Change {
			return provisioning.Change{Forwarding: &provisioning.ForwardingParams{Condition: provisioning.ForwardBusy, Number: "4420000002"}}
		}, want: func(s *provisioning.Subscription, _ provisioning.SIM) {
			s.Forwarding = map[provisioning.ForwardingKind]string{provisioning.ForwardBusy: "4420000002", provisioning.ForwardUnconditional: "4420000003"}
		}},
		{name: "forwarding cancelled", before: []provisioning.Change{
			{Forwarding: &provisioning.ForwardingParams{Condition: provisioning.ForwardBusy, Number: "4420000001"}},
		}, change: func(line, provisioning.SIM) provisioning.Change {
			return provisioning.Change{Forwarding: &provisioning.ForwardingParams{Condition: provisioning.ForwardBusy}}
		}, want: func(s *provisioning.Subscription, _ provisioning.SIM) { delete(s.Forwarding, provisioning.ForwardBusy) }},
		{name: "dates", change: func(line, provisioning.SIM) provisioning.Change {
			return provisioning.Change{Dates: &provisioning.DatesParams{Start: today.AddDate(0, 0, 3).Add(13 * time.Hour), End: &end}}
		}, want: func(s *provisioning.Subscription, _ provisioning.SIM) {
			s.StartDate, s.EndDate, s.DatesVersion = today.AddDate(0, 0, 3), &end, 1
		}},
		{name: "dates again, open-ended", before: []provisioning.Change{
			{Dates: &provisioning.DatesParams{Start: today, End: &end}},
		}, change: func(line, provisioning.SIM) provisioning.Change {
			return provisioning.Change{Dates: &provisioning.DatesParams{Start: today.AddDate(0, 0, 1)}}
		}, want: func(s *provisioning.Subscription, _ provisioning.SIM) {
			s.StartDate, s.EndDate, s.DatesVersion = today.AddDate(0, 0, 1), nil, 2
		}},
		{name: "suspend", change: func(line, provisioning.SIM) provisioning.Change {
			return provisioning.Change{Status: provisioning.StatusSuspended}
		}, want: func(s *provisioning.Subscription, _ provisioning.SIM) { s.Status = provisioning.StatusSuspended }},
		{name: "nothing", change: func(line, provisioning.SIM) provisioning.Change { return provisioning.Change{} },
			want: func(*provisioning.Subscription, provisioning.SIM) {}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := e.line(t)
			for _, ch := range c.before {
				r := e.request(t, l.id, provisioning.KindForwarding, nil, time.Time{})
				e.complete(t, r.ID, ch)
			}
			want := e.subscription(t, l.id)
			newSIM := e.sim(t)
			r := e.request(t, l.id, provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: newSIM.ICCID}, time.Time{})
			e.start(t, r.ID)
			ch := c.change(l, newSIM)
			outcome := json.RawMessage(`{"gateway":"ok","at":"2024-01-01"}`)
			if err := e.store.Complete(e.ctx, r.ID, outcome, ch); err != nil {
				t.Fatalf("Complete: %v", err)
			}
			c.want(&want, newSIM)
			if d := cmp.Diff(want, e.subscription(t, l.id)); d != "" {
				t.Errorf("subscription (-want +got):\n%s", d)
			}
			got, err := e.store.Request(e.ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != provisioning.StateDone || !jsonEqual(got.Outcome, outcome) {
				t.Errorf("request %s, outcome %s; want done, %s", got.State, got.Outcome, outcome)
			}
			if ch.SwapTo != nil {
				if s, by := e.simState(t, newSIM.ICCID), e.reservedBy(t, newSIM.ICCID); s != provisioning.SIMActive || by != "" {
					t.Errorf("new SIM %s reserved by %q, want active, not reserved", s, by)
				}
				if s := e.simState(t, l.sim.ICCID); s != provisioning.SIMRetired {
					t.Errorf("old SIM %s, want retired", s)
				}
			} else if s := e.simState(t, l.sim.ICCID); s != provisioning.SIMActive {
				t.Errorf("SIM %s, want active", s)
			}
		})
	}
}

func TestCompleteIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	newSIM := e.sim(t)
	r := e.request(t, l.id, provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: newSIM.ICCID}, time.Time{})
	e.start(t, r.ID)
	ch := provisioning.Change{SwapTo: &newSIM, Dates: &provisioning.DatesParams{Start: day(time.Now())}}
	if err := e.store.Complete(e.ctx, r.ID, json.RawMessage(`{"n":1}`), ch); err != nil {
		t.Fatal(err)
	}
	sub := e.subscription(t, l.id)
	done, _ := e.store.Request(e.ctx, r.ID)
	// The worker crashed before it saw the commit and completes again, even
	// with a different outcome: nothing changes.
	ch.Voicemail = &provisioning.VoicemailSettings{Enabled: true, Language: "xx"}
	if err := e.store.Complete(e.ctx, r.ID, json.RawMessage(`{"n":2}`), ch); err != nil {
		t.Fatalf("Complete again: %v", err)
	}
	if d := cmp.Diff(sub, e.subscription(t, l.id)); d != "" {
		t.Errorf("second Complete changed the subscription (-want +got):\n%s", d)
	}
	again, _ := e.store.Request(e.ctx, r.ID)
	if d := cmp.Diff(done, again, cmp.Comparer(jsonEqual)); d != "" {
		t.Errorf("second Complete changed the request (-want +got):\n%s", d)
	}
	if sub.DatesVersion != 1 || sub.ICCID != newSIM.ICCID {
		t.Errorf("dates version %d, SIM %s; want 1, %s", sub.DatesVersion, sub.ICCID, newSIM.ICCID)
	}
	wantErr(t, "Fail of a done request", e.store.Fail(e.ctx, r.ID, "late"), provisioning.ErrConflict)
}

// TestCompleteIdempotentWithoutSwap is TestCompleteIdempotent for a change
// that completes in one pipeline of guarded statements: a second
// completion changes nothing, schedules nothing more, and completing a
// failed request is a conflict that changes nothing either.
func TestCompleteIdempotentWithoutSwap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	r := e.request(t, l.id, provisioning.KindDates, nil, time.Time{})
	e.start(t, r.ID)
	start := day(time.Now()).AddDate(0, 0, 2)
	change := func(lang string) provisioning.Change {
		return provisioning.Change{
			Voicemail:  &provisioning.VoicemailSettings{Enabled: true, Language: lang},
			Forwarding: &provisioning.ForwardingParams{Condition: provisioning.ForwardBusy, Number: "4420000001"},
			Dates:      &provisioning.DatesParams{Start: start},
			Status:     provisioning.StatusSuspended,
			Schedule:   []provisioning.Request{{SubscriptionID: l.id, Kind: provisioning.KindActivate, Params: mustJSON(provisioning.ScheduleParams{DatesVersion: 1}), RequestedBy: "schedule:" + r.ID, NotBefore: start}},
		}
	}
	ch := change("he")
	if err := e.store.Complete(e.ctx, r.ID, json.RawMessage(`{"n":1}`), ch); err != nil {
		t.Fatal(err)
	}
	if ch.Schedule[0].ID == "" || ch.Schedule[0].State != provisioning.StatePending {
		t.Fatalf("scheduled request %+v, want an id and pending", ch.Schedule[0])
	}
	sub := e.subscription(t, l.id)
	if sub.DatesVersion != 1 || sub.Voicemail.Language != "he" || sub.Status != provisioning.StatusSuspended || sub.Forwarding[provisioning.ForwardBusy] != "4420000001" {
		t.Fatalf("after Complete: %+v", sub)
	}
	done, _ := e.store.Request(e.ctx, r.ID)
	again := change("en")
	again.Status, again.Forwarding.Number = provisioning.StatusActive, ""
	if err := e.store.Complete(e.ctx, r.ID, json.RawMessage(`{"n":2}`), again); err != nil {
		t.Fatalf("Complete again: %v", err)
	}
	if again.Schedule[0].ID != "" {
		t.Errorf("second Complete scheduled request %s", again.Schedule[0].ID)
	}
	if d := cmp.Diff(sub, e.subscription(t, l.id)); d != "" {
		t.Errorf("second Complete changed the subscription (-want +got):\n%s", d)
	}
	if got, _ := e.store.Request(e.ctx, r.ID); !cmp.Equal(done, got, cmp.Comparer(jsonEqual)) {
		t.Errorf("second Complete changed the request: %+v, was %+v", got, done)
	}
	reqs, err := e.store.ListRequests(e.ctx, l.id, 50)
	if err != nil || len(reqs) != 2 {
		t.Fatalf("%d requests (%v), want the dates request and one activation", len(reqs), err)
	}

	failed := e.request(t, l.id, provisioning.KindVoicemail, nil, time.Time{})
	if err := e.store.Fail(e.ctx, failed.ID, "refused"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Complete of a failed request", e.store.Complete(e.ctx, failed.ID, nil, change("ru")), provisioning.ErrConflict)
	if d := cmp.Diff(sub, e.subscription(t, l.id)); d != "" {
		t.Errorf("Complete of a failed request changed the subscription (-want +got):\n%s", d)
	}
	if got, _ := e.store.Request(e.ctx, failed.ID); got.State != provisioning.StateFailed {
		t.Errorf("failed request is %s after Complete", got.State)
	}
}

func TestCompleteRollsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	other := e.line(t)
	newSIM, heldSIM := e.sim(t), e.sim(t)
	r := e.request(t, l.id, provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: newSIM.ICCID}, time.Time{})
	e.request(t, other.id, provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: heldSIM.ICCID}, time.Time{})
	e.start(t, r.ID)
	before := e.subscription(t, l.id)
	for _, c := range []struct {
		name string
		ch   provisioning.Change
		want error
	}{
		{"card reserved by another request", provisioning.Change{SwapTo: &heldSIM, Voicemail: &provisioning.VoicemailSettings{Enabled: true, Language: "en"}}, provisioning.ErrSIMNotInStock},
		{"card in use", provisioning.Change{SwapTo: &other.sim}, provisioning.ErrSIMNotInStock},
		{"unknown card", provisioning.Change{SwapTo: &provisioning.SIM{ICCID: newICCID()}}, provisioning.ErrSIMNotFound},
		{"bad forwarding number", provisioning.Change{Voicemail: &provisioning.VoicemailSettings{Enabled: true, Language: "en"},
			Forwarding: &provisioning.ForwardingParams{Condition: provisioning.ForwardBusy, Number: "+44"}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := e.store.Complete(e.ctx, r.ID, nil, c.ch)
			if err == nil {
				t.Fatal("Complete: no error")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Complete: %v, want %v", err, c.want)
			}
			if d := cmp.Diff(before, e.subscription(t, l.id)); d != "" {
				t.Errorf("failed Complete changed the subscription (-want +got):\n%s", d)
			}
			if got, _ := e.store.Request(e.ctx, r.ID); got.State != provisioning.StateInProgress {
				t.Errorf("request %s after a failed Complete, want in_progress", got.State)
			}
		})
	}
}

func TestFail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	card, otherCard := e.sim(t), e.sim(t)
	swap := e.request(t, l.id, provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: card.ICCID}, time.Time{})
	other := e.request(t, e.line(t).id, provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: otherCard.ICCID}, time.Time{})
	e.start(t, swap.ID)
	if err := e.store.Fail(e.ctx, swap.ID, "unknown subscriber"); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	got, _ := e.store.Request(e.ctx, swap.ID)
	if got.State != provisioning.StateFailed || got.LastError != "unknown subscriber" {
		t.Errorf("failed request %s, %q; want failed, unknown subscriber", got.State, got.LastError)
	}
	if s, by := e.simState(t, card.ICCID), e.reservedBy(t, card.ICCID); s != provisioning.SIMInStock || by != "" {
		t.Errorf("released SIM %s reserved by %q, want in_stock", s, by)
	}
	if s, by := e.simState(t, otherCard.ICCID), e.reservedBy(t, otherCard.ICCID); s != provisioning.SIMReserved || by != other.ID {
		t.Errorf("another request's SIM %s reserved by %q, want reserved by %s", s, by, other.ID)
	}
	// Failing again is a no-op; completing a failed request is a conflict.
	if err := e.store.Fail(e.ctx, swap.ID, "again"); err != nil {
		t.Errorf("Fail again: %v", err)
	}
	if got, _ := e.store.Request(e.ctx, swap.ID); got.LastError != "unknown subscriber" {
		t.Errorf("Fail again changed last error to %q", got.LastError)
	}
	wantErr(t, "Complete of a failed request", e.store.Complete(e.ctx, swap.ID, nil, provisioning.Change{SwapTo: &card}), provisioning.ErrConflict)
	// The card can be reserved again.
	e.request(t, l.id, provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: card.ICCID}, time.Time{})
	// A request that reserved nothing fails without touching SIMs.
	plain := e.request(t, l.id, provisioning.KindVoicemail, nil, time.Time{})
	if err := e.store.Fail(e.ctx, plain.ID, "bad language"); err != nil {
		t.Fatal(err)
	}
	if s := e.simState(t, card.ICCID); s != provisioning.SIMReserved {
		t.Errorf("SIM of the new swap %s after failing another request, want reserved", s)
	}
}

// TestLifecycleConcurrent runs one subscription's requests through start,
// messages and completion from several goroutines at once: each call either
// succeeds or is told to wait (never a deadlock or a lost update), and the
// later request starts only after the earlier one's completion began.
func TestLifecycleConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	for round := range 10 {
		card := e.sim(t)
		a := e.request(t, l.id, provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: card.ICCID}, time.Time{})
		b := e.request(t, l.id, provisioning.KindAPNSMS, nil, time.Time{})
		var (
			wg                 sync.WaitGroup
			errA, errMsg, errB error
			completing, bRan   time.Time
		)
		wg.Go(func() {
			if _, _, errA = e.store.StartRequest(e.ctx, a.ID, time.Now()); errA != nil {
				return
			}
			completing = time.Now()
			errA = e.store.Complete(e.ctx, a.ID, nil, provisioning.Change{SwapTo: &card})
		})
		wg.Go(func() { errMsg = e.store.RecordMessages(e.ctx, a.ID, []string{a.ID + "-1"}) })
		wg.Go(func() {
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if _, _, errB = e.store.StartRequest(e.ctx, b.ID, time.Now()); !errors.Is(errB, provisioning.ErrNotReady) {
					bRan = time.Now()
					return
				}
			}
		})
		wg.Wait()
		if errA != nil || errMsg != nil || errB != nil {
			t.Fatalf("round %d: A %v, messages %v, B %v", round, errA, errMsg, errB)
		}
		if bRan.Before(completing) {
			t.Errorf("round %d: B started at %s, before A's completion began at %s", round, bRan, completing)
		}
		if got, _ := e.store.Request(e.ctx, a.ID); got.State != provisioning.StateDone || len(got.Messages) != 1 {
			t.Errorf("round %d: A %s with %d messages, want done with 1", round, got.State, len(got.Messages))
		}
		e.complete(t, b.ID, provisioning.Change{})
	}
	if got := e.subscription(t, l.id); got.ICCID == l.sim.ICCID {
		t.Errorf("subscription still on its first SIM")
	}
}
