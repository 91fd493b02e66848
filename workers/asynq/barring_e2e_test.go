package asynq_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/netsim/smsc"
	"github.com/simcore/simcore/provisioning"
)

// TestDataBarringEndToEnd follows a line through what rating asks for: data
// barred with a notice, a suspension and resumption that keep the bar, the
// bar lifted with a notice. The HLR is read over the gateway's HTTP API,
// and the notices are read back from the SMSC in the subscriber's language
// (Russian: UCS-2, two concatenated parts).
func TestDataBarringEndToEnd(t *testing.T) {
	const line = 5
	e := newEnv(t, 0, 0)
	sub := e.line(t, line, "ru")
	ctx := testenv.Context(t, 2*time.Minute)

	barring := func(t *testing.T, want provisioning.Barring, dataBarred bool) {
		t.Helper()
		ns, err := e.svc.Gateway.Subscriber(ctx, msisdn(line))
		if err != nil {
			t.Fatalf("HLR subscriber: %v", err)
		}
		if ns.Barring != want {
			t.Fatalf("HLR barring %+v, want %+v", ns.Barring, want)
		}
		got, err := e.store.Subscription(ctx, sub)
		if err != nil || got.DataBarred != dataBarred {
			t.Fatalf("stored data barred %v (%v), want %v", got.DataBarred, err, dataBarred)
		}
	}
	system := func(t *testing.T, kind provisioning.Kind, p provisioning.BarringParams) provisioning.Request {
		t.Helper()
		return e.submitSystem(t, ctx, sub, kind, p)
	}
	noticeArrives := func(t *testing.T, key string) {
		t.Helper()
		e.noticeArrives(t, line, key, "ru")
	}

	barring(t, provisioning.Barring{}, false)
	// The line's dates notice first, so that later counts see only ours.
	e.waitFor(t, func() bool { return smsTo(e.smsc, msisdn(line), "") > 0 }, "no dates notice reached the SMSC")

	t.Run("bar_data bars data and tells the subscriber", func(t *testing.T) {
		r := system(t, provisioning.KindBarData, provisioning.BarringParams{Reason: "balance_exhausted", Notice: "balance_exhausted"})
		barring(t, provisioning.Barring{Data: true}, true)
		var outcome map[string]any
		_ = json.Unmarshal(r.Outcome, &outcome)
		if d := cmp.Diff(map[string]any{"data_barred": true, "reason": "balance_exhausted"}, outcome); d != "" {
			t.Errorf("outcome (-want +got):\n%s", d)
		}
		noticeArrives(t, "balance_exhausted")
	})

	t.Run("bar_data on a barred line completes and sends no notice", func(t *testing.T) {
		before := len(e.smsc.Messages())
		system(t, provisioning.KindBarData, provisioning.BarringParams{Reason: "data_allowance_exhausted"})
		barring(t, provisioning.Barring{Data: true}, true)
		// A notice would be here by now: an idle worker polls once a second.
		time.Sleep(2 * time.Second)
		if n := len(e.smsc.Messages()); n != before {
			t.Errorf("%d messages reached the SMSC, want none", n-before)
		}
	})

	t.Run("suspend and resume keep data barred", func(t *testing.T) {
		e.submitAndWait(t, sub, provisioning.KindSuspend, nil, provisioning.StateDone)
		barring(t, provisioning.Barring{All: true, Data: true}, true)
		e.submitAndWait(t, sub, provisioning.KindResume, nil, provisioning.StateDone)
		barring(t, provisioning.Barring{Data: true}, true)
	})

	t.Run("unbar_data lifts the bar and tells the subscriber", func(t *testing.T) {
		system(t, provisioning.KindUnbarData, provisioning.BarringParams{Reason: "topup", Notice: "data_resumed"})
		barring(t, provisioning.Barring{}, false)
		noticeArrives(t, "data_resumed")
	})

	t.Run("a suspended line stays suspended through bar and unbar", func(t *testing.T) {
		e.submitAndWait(t, sub, provisioning.KindSuspend, nil, provisioning.StateDone)
		system(t, provisioning.KindBarData, provisioning.BarringParams{Reason: "balance_exhausted"})
		barring(t, provisioning.Barring{All: true, Data: true}, true)
		system(t, provisioning.KindUnbarData, provisioning.BarringParams{Reason: "new_period"})
		barring(t, provisioning.Barring{All: true}, false)
		e.submitAndWait(t, sub, provisioning.KindResume, nil, provisioning.StateDone)
		barring(t, provisioning.Barring{}, false)
	})

	t.Run("operators cannot submit barring kinds", func(t *testing.T) {
		_, err := e.svc.Submit(context.Background(), sub, provisioning.KindUnbarData, json.RawMessage(`{"reason":"topup"}`), "operator")
		if !errors.Is(err, provisioning.ErrInvalid) {
			t.Fatalf("Submit unbar_data: %v, want ErrInvalid", err)
		}
	})
}

// fullSMSTo counts the whole messages (a single one, or the last part of a
// concatenated one) to the number with exactly text.
func fullSMSTo(s *smsc.Server, to, text string) int {
	n := 0
	for _, m := range s.Messages() {
		if m.Destination == to && m.FullText == text {
			n++
		}
	}
	return n
}

// submitSystem submits a system request (as rating does) for sub and
// waits until it is done.
func (e *env) submitSystem(t *testing.T, ctx context.Context, sub int64, kind provisioning.Kind, p provisioning.BarringParams) provisioning.Request {
	t.Helper()
	b, _ := json.Marshal(p)
	r, err := e.svc.SubmitSystem(ctx, sub, kind, b, "rating:test")
	if err != nil {
		t.Fatalf("SubmitSystem %s: %v", kind, err)
	}
	return e.wait(t, r.ID, provisioning.StateDone)
}

// noticeArrives waits until notice key, in lang, has reached the SMSC for
// line, whole and once.
func (e *env) noticeArrives(t *testing.T, line int, key, lang string) {
	t.Helper()
	text, err := provisioning.RenderSMS(provisioning.Notification{Key: key, Language: lang})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, func() bool { return fullSMSTo(e.smsc, msisdn(line), text) == 1 }, "no %s notice in %s reached the SMSC", key, lang)
}

// TestOutgoingBarringEndToEnd: rating's outgoing bar (calls and SMS) goes
// through the worker to the HLR beside the data bar, each kind leaving the
// other bar as it is, a suspension and resumption keeping both; the
// subscriber hears of it in Hebrew.
func TestOutgoingBarringEndToEnd(t *testing.T) {
	const line = 6
	e := newEnv(t, 0, 0)
	sub := e.line(t, line, "he")
	ctx := testenv.Context(t, 2*time.Minute)

	barring := func(t *testing.T, want provisioning.Barring) {
		t.Helper()
		ns, err := e.svc.Gateway.Subscriber(ctx, msisdn(line))
		if err != nil {
			t.Fatalf("HLR subscriber: %v", err)
		}
		if ns.Barring != want {
			t.Fatalf("HLR barring %+v, want %+v", ns.Barring, want)
		}
		got, err := e.store.Subscription(ctx, sub)
		if err != nil || got.DataBarred != want.Data || got.OutgoingBarred != want.Outgoing {
			t.Fatalf("stored data barred %v, outgoing barred %v (%v), want %v, %v", got.DataBarred, got.OutgoingBarred, err, want.Data, want.Outgoing)
		}
	}
	system := func(t *testing.T, kind provisioning.Kind, p provisioning.BarringParams) provisioning.Request {
		t.Helper()
		return e.submitSystem(t, ctx, sub, kind, p)
	}
	noticeArrives := func(t *testing.T, key string) {
		t.Helper()
		e.noticeArrives(t, line, key, "he")
	}

	barring(t, provisioning.Barring{})
	e.waitFor(t, func() bool { return smsTo(e.smsc, msisdn(line), "") > 0 }, "no dates notice reached the SMSC")

	t.Run("bar_outgoing bars calls and SMS, not data", func(t *testing.T) {
		r := system(t, provisioning.KindBarOutgoing, provisioning.BarringParams{Reason: "balance_exhausted", Notice: "outgoing_barred"})
		barring(t, provisioning.Barring{Outgoing: true})
		var outcome map[string]any
		_ = json.Unmarshal(r.Outcome, &outcome)
		if d := cmp.Diff(map[string]any{"outgoing_barred": true, "reason": "balance_exhausted"}, outcome); d != "" {
			t.Errorf("outcome (-want +got):\n%s", d)
		}
		noticeArrives(t, "outgoing_barred")
	})

	t.Run("bar_data keeps the outgoing bar", func(t *testing.T) {
		system(t, provisioning.KindBarData, provisioning.BarringParams{Reason: "balance_exhausted"})
		barring(t, provisioning.Barring{Data: true, Outgoing: true})
	})

	t.Run("suspend and resume keep both bars", func(t *testing.T) {
		e.submitAndWait(t, sub, provisioning.KindSuspend, nil, provisioning.StateDone)
		barring(t, provisioning.Barring{All: true, Data: true, Outgoing: true})
		e.submitAndWait(t, sub, provisioning.KindResume, nil, provisioning.StateDone)
		barring(t, provisioning.Barring{Data: true, Outgoing: true})
	})

	t.Run("unbar_outgoing keeps the data bar", func(t *testing.T) {
		system(t, provisioning.KindUnbarOutgoing, provisioning.BarringParams{Reason: "lifted", Notice: "outgoing_resumed"})
		barring(t, provisioning.Barring{Data: true})
		noticeArrives(t, "outgoing_resumed")
	})

	t.Run("unbar_data leaves outgoing as it is", func(t *testing.T) {
		system(t, provisioning.KindBarOutgoing, provisioning.BarringParams{Reason: "balance_exhausted"})
		barring(t, provisioning.Barring{Data: true, Outgoing: true})
		system(t, provisioning.KindUnbarData, provisioning.BarringParams{Reason: "lifted"})
		barring(t, provisioning.Barring{Outgoing: true})
		system(t, provisioning.KindUnbarOutgoing, provisioning.BarringParams{Reason: "lifted"})
		barring(t, provisioning.Barring{})
	})
}
