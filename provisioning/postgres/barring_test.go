package postgres_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/simcore/simcore/provisioning"
)

func ptr[T any](v T) *T { return &v }

// TestDataBarredChange: bar_data and unbar_data requests are stored (the
// kind check knows them), and Complete records the bar; a change without
// DataBarred leaves it.
func TestDataBarredChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	if e.subscription(t, l.id).DataBarred {
		t.Fatal("a new subscription is data barred")
	}
	for _, step := range []struct {
		kind provisioning.Kind
		ch   provisioning.Change
		want bool
	}{
		{provisioning.KindBarData, provisioning.Change{DataBarred: ptr(true)}, true},
		{provisioning.KindSuspend, provisioning.Change{Status: provisioning.StatusSuspended}, true},
		{provisioning.KindResume, provisioning.Change{Status: provisioning.StatusActive}, true},
		{provisioning.KindUnbarData, provisioning.Change{DataBarred: ptr(false)}, false},
		{provisioning.KindBarData, provisioning.Change{DataBarred: ptr(true)}, true},
	} {
		r := e.request(t, l.id, step.kind, provisioning.BarringParams{Reason: "test"}, time.Time{})
		e.start(t, r.ID)
		e.complete(t, r.ID, step.ch)
		if got := e.subscription(t, l.id).DataBarred; got != step.want {
			t.Fatalf("after %s: data barred %v, want %v", step.kind, got, step.want)
		}
		stored, err := e.store.Request(e.ctx, r.ID)
		if err != nil || stored.Kind != step.kind || stored.State != provisioning.StateDone {
			t.Fatalf("request %+v (%v), want %s done", stored, err, step.kind)
		}
	}
	byNumber, err := e.store.SubscriptionByMSISDN(e.ctx, l.msisdn)
	if err != nil || !byNumber.DataBarred {
		t.Errorf("SubscriptionByMSISDN: data barred %v (%v), want true", byNumber.DataBarred, err)
	}
}

// barredLine is a line, data barred or not, moved to status by completed
// requests.
func (e *env) barredLine(t *testing.T, barred bool, status provisioning.SubscriptionStatus) line {
	t.Helper()
	l := e.line(t)
	if barred {
		r := e.request(t, l.id, provisioning.KindBarData, provisioning.BarringParams{Reason: "test"}, time.Time{})
		e.start(t, r.ID)
		e.complete(t, r.ID, provisioning.Change{DataBarred: ptr(true)})
	}
	if status != provisioning.StatusActive {
		kind, params := provisioning.KindSuspend, any(nil)
		if status == provisioning.StatusEnded {
			kind, params = provisioning.KindDeactivate, provisioning.ScheduleParams{}
		}
		r := e.request(t, l.id, kind, params, time.Time{})
		e.start(t, r.ID)
		e.complete(t, r.ID, provisioning.Change{Status: status})
	}
	return l
}

// withoutForwarding is Subscription's answer as the bulk reads give it.
func (e *env) withoutForwarding(t *testing.T, id int64) provisioning.Subscription {
	t.Helper()
	s := e.subscription(t, id)
	s.Forwarding = nil
	return s
}

func TestLiveSubscriptionsByICCID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	active := e.barredLine(t, false, provisioning.StatusActive)
	barred := e.barredLine(t, true, provisioning.StatusSuspended)
	ended := e.barredLine(t, true, provisioning.StatusEnded)
	forwarded := e.line(t)
	r := e.request(t, forwarded.id, provisioning.KindForwarding, nil, time.Time{})
	e.complete(t, r.ID, provisioning.Change{Forwarding: &provisioning.ForwardingParams{Condition: provisioning.ForwardBusy, Number: "972500000001"}})
	c := e.customer(t)
	pendingSIM := e.sim(t)
	pending, err := e.store.CreateSubscription(e.ctx, c.subscriber.ID, c.plan.ID, newMSISDN(), pendingSIM.ICCID, time.Now().AddDate(0, 0, 3))
	if err != nil {
		t.Fatal(err)
	}
	inStock := e.sim(t) // on no subscription

	want := []provisioning.Subscription{
		e.withoutForwarding(t, active.id),
		e.withoutForwarding(t, barred.id),
		e.withoutForwarding(t, forwarded.id),
		e.withoutForwarding(t, pending),
	}
	slices.SortFunc(want, func(a, b provisioning.Subscription) int { return strings.Compare(a.ICCID, b.ICCID) })
	if b := e.subscription(t, barred.id); !b.DataBarred || b.Status != provisioning.StatusSuspended {
		t.Fatalf("fixture: barred line is %s, data barred %v", b.Status, b.DataBarred)
	}

	tests := []struct {
		name   string
		iccids []string
		want   []provisioning.Subscription
	}{
		{"none asked", nil, nil},
		{"all kinds", []string{inStock.ICCID, ended.sim.ICCID, pendingSIM.ICCID, forwarded.sim.ICCID, barred.sim.ICCID, active.sim.ICCID, newICCID()}, want},
		{"asked twice", []string{active.sim.ICCID, active.sim.ICCID}, []provisioning.Subscription{e.withoutForwarding(t, active.id)}},
		{"only unknown", []string{newICCID(), "not an iccid"}, nil},
		{"thousands", append(manyICCIDs(5000), barred.sim.ICCID), []provisioning.Subscription{e.withoutForwarding(t, barred.id)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := e.store.LiveSubscriptionsByICCID(e.ctx, tt.iccids)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("LiveSubscriptionsByICCID (-want +got):\n%s", d)
			}
		})
	}
}

func TestBarredSubscriptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	barred := e.barredLine(t, true, provisioning.StatusActive)
	suspended := e.barredLine(t, true, provisioning.StatusSuspended)
	e.barredLine(t, true, provisioning.StatusEnded)
	e.barredLine(t, false, provisioning.StatusActive)
	e.barredLine(t, false, provisioning.StatusSuspended)
	lifted := e.barredLine(t, true, provisioning.StatusActive)
	r := e.request(t, lifted.id, provisioning.KindUnbarData, provisioning.BarringParams{Reason: "topup"}, time.Time{})
	e.start(t, r.ID)
	e.complete(t, r.ID, provisioning.Change{DataBarred: ptr(false)})

	got, err := e.store.BarredSubscriptions(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []provisioning.Subscription{e.withoutForwarding(t, barred.id), e.withoutForwarding(t, suspended.id)}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("BarredSubscriptions (-want +got):\n%s", d)
	}
	for _, s := range got {
		if !s.DataBarred || s.Plan.APN == "" || s.Subscriber.Language == "" || s.IMSI == "" {
			t.Errorf("subscription %d lacks fields: %+v", s.ID, s)
		}
	}
}

func manyICCIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = newICCID()
	}
	return out
}

// TestSubscriptionsUsingICCIDs: a subscription is found by its current card
// and, after swaps, by every card it was on, which it lists newest first.
func TestSubscriptionsUsingICCIDs(t *testing.T) {
	e := newEnv(t)
	l := e.line(t)
	first := l.sim.ICCID
	var cards []string
	for range 2 {
		m := e.sim(t)
		r := e.request(t, l.id, provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: m.ICCID}, time.Time{})
		e.start(t, r.ID)
		m.State = provisioning.SIMReserved
		if err := e.store.Complete(e.ctx, r.ID, nil, provisioning.Change{SwapTo: &m}); err != nil {
			t.Fatal(err)
		}
		cards = append(cards, m.ICCID)
	}
	other := e.line(t)
	for _, q := range [][]string{{first}, {cards[0]}, {cards[1]}, {first, cards[1], other.sim.ICCID}} {
		got, err := e.store.SubscriptionsUsingICCIDs(e.ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, s := range got {
			ids = append(ids, s.ID)
			if s.ID == l.id {
				if s.ICCID != cards[1] || !slices.Equal(s.PastICCIDs, []string{cards[0], first}) {
					t.Errorf("cards of the swapped line: now %s, before %v; want %s, [%s %s]", s.ICCID, s.PastICCIDs, cards[1], cards[0], first)
				}
			}
		}
		want := []int64{l.id}
		if len(q) == 3 {
			want = []int64{l.id, other.id}
		}
		if !slices.Equal(ids, want) {
			t.Errorf("SubscriptionsUsingICCIDs(%v) = %v, want %v", q, ids, want)
		}
	}
}

// TestOutgoingBarredChange: bar_outgoing and unbar_outgoing requests are
// stored (migration 00007's kind check knows them), Complete records the
// outgoing bar apart from the data bar, and BarredSubscriptions lists a
// line barred either way, so rating re-checks it.
func TestOutgoingBarredChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	if s := e.subscription(t, l.id); s.OutgoingBarred || s.DataBarred {
		t.Fatalf("a new subscription is barred: data %v, outgoing %v", s.DataBarred, s.OutgoingBarred)
	}
	barredNow := func() []int64 {
		t.Helper()
		subs, err := e.store.BarredSubscriptions(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, s := range subs {
			if s.ID == l.id {
				ids = append(ids, s.ID)
			}
		}
		return ids
	}
	for _, step := range []struct {
		kind               provisioning.Kind
		ch                 provisioning.Change
		wantData, wantOut  bool
		wantListedAsBarred bool
	}{
		{provisioning.KindBarOutgoing, provisioning.Change{OutgoingBarred: ptr(true)}, false, true, true},
		{provisioning.KindBarData, provisioning.Change{DataBarred: ptr(true)}, true, true, true},
		{provisioning.KindSuspend, provisioning.Change{Status: provisioning.StatusSuspended}, true, true, true},
		{provisioning.KindResume, provisioning.Change{Status: provisioning.StatusActive}, true, true, true},
		{provisioning.KindUnbarData, provisioning.Change{DataBarred: ptr(false)}, false, true, true},
		{provisioning.KindUnbarOutgoing, provisioning.Change{OutgoingBarred: ptr(false)}, false, false, false},
	} {
		var params any = provisioning.BarringParams{Reason: "test"}
		if step.kind == provisioning.KindSuspend || step.kind == provisioning.KindResume {
			params = nil
		}
		r := e.request(t, l.id, step.kind, params, time.Time{})
		e.start(t, r.ID)
		e.complete(t, r.ID, step.ch)
		got := e.subscription(t, l.id)
		if got.DataBarred != step.wantData || got.OutgoingBarred != step.wantOut {
			t.Fatalf("after %s: data barred %v, outgoing barred %v; want %v, %v", step.kind, got.DataBarred, got.OutgoingBarred, step.wantData, step.wantOut)
		}
		if listed := len(barredNow()) == 1; listed != step.wantListedAsBarred {
			t.Errorf("after %s: listed by BarredSubscriptions %v, want %v", step.kind, listed, step.wantListedAsBarred)
		}
		stored, err := e.store.Request(e.ctx, r.ID)
		if err != nil || stored.Kind != step.kind || stored.State != provisioning.StateDone {
			t.Fatalf("request %+v (%v), want %s done", stored, err, step.kind)
		}
	}
}
