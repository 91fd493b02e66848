package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidateDataBarring(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, params string
		field        string // "" for valid params
	}{
		{"reason only", `{"reason":"balance_exhausted"}`, ""},
		{"with a notice", `{"reason":"data_allowance_exhausted","notice":"data_barred"}`, ""},
		{"lift with a notice", `{"reason":"topup","notice":"data_resumed"}`, ""},
		{"empty notice", `{"reason":"new_period","notice":""}`, ""},
		{"64 characters", `{"reason":"` + strings.Repeat("é", 64) + `"}`, ""},
		{"65 characters", `{"reason":"` + strings.Repeat("r", 65) + `"}`, "reason"},
		{"no params", ``, "reason"},
		{"null", `null`, "reason"},
		{"empty object", `{}`, "reason"},
		{"blank reason", `{"reason":"  "}`, "reason"},
		{"unknown notice", `{"reason":"topup","notice":"no_such_notice"}`, "notice"},
		{"a term, not a notice", `{"reason":"topup","notice":"usage/data"}`, "notice"},
		{"a notice that needs data", `{"reason":"topup","notice":"balance_low"}`, "notice"},
		{"unknown field", `{"reason":"topup","notify":"data_resumed"}`, "params"},
		{"not an object", `["topup"]`, "params"},
		{"trailing data", `{"reason":"topup"} {}`, "params"},
		{"reason not a string", `{"reason":1}`, "params"},
	}
	for _, kind := range SystemKinds {
		for _, tt := range tests {
			t.Run(string(kind)+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				err := ValidateParams(kind, json.RawMessage(tt.params), time.Now(), nil)
				var ie *InputError
				switch {
				case tt.field == "" && err != nil:
					t.Fatalf("ValidateParams(%s) = %v, want nil", tt.params, err)
				case tt.field != "" && (!errors.As(err, &ie) || ie.Field != tt.field || !errors.Is(err, ErrInvalid)):
					t.Fatalf("ValidateParams(%s) = %v, want an InputError on %q", tt.params, err, tt.field)
				}
			})
		}
	}
}

func TestSystemKindsAreNotUserKinds(t *testing.T) {
	t.Parallel()
	for _, k := range SystemKinds {
		if IsUserKind(k) {
			t.Errorf("IsUserKind(%s) = true", k)
		}
	}
}

func TestSubmitSystem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, queue := newMemStore(Subscription{ID: 7, MSISDN: "447700900007", Status: StatusActive}), &memQueue{}
	svc := &Service{Store: store, Queue: queue}
	params := json.RawMessage(`{"reason":"balance_exhausted","notice":"balance_exhausted"}`)

	r, err := svc.SubmitSystem(ctx, 7, KindBarData, params, "rating:test")
	if err != nil {
		t.Fatalf("SubmitSystem bar_data: %v", err)
	}
	if r.ID == "" || r.Kind != KindBarData || r.State != StatePending || r.RequestedBy != "rating:test" || string(r.Params) != string(params) {
		t.Errorf("request %+v", r)
	}
	if len(queue.requests) != 1 || queue.requests[0].ID != r.ID {
		t.Errorf("queued %+v, want request %s", queue.requests, r.ID)
	}
	for _, tt := range []struct {
		name   string
		submit func() error
		want   error
		field  string
	}{
		{"a user kind", func() error {
			_, err := svc.SubmitSystem(ctx, 7, KindSuspend, nil, "rating")
			return err
		}, ErrInvalid, "kind"},
		{"an unknown kind", func() error {
			_, err := svc.SubmitSystem(ctx, 7, "bar_voice", params, "rating")
			return err
		}, ErrInvalid, "kind"},
		{"Submit of a system kind", func() error {
			_, err := svc.Submit(ctx, 7, KindUnbarData, params, "operator")
			return err
		}, ErrInvalid, "kind"},
		{"Submit of bar_outgoing", func() error {
			_, err := svc.Submit(ctx, 7, KindBarOutgoing, params, "operator")
			return err
		}, ErrInvalid, "kind"},
		{"bar_outgoing without a reason", func() error {
			_, err := svc.SubmitSystem(ctx, 7, KindBarOutgoing, json.RawMessage(`{"notice":"outgoing_barred"}`), "rating")
			return err
		}, ErrInvalid, "reason"},
		{"unbar_outgoing with an unknown notice", func() error {
			_, err := svc.SubmitSystem(ctx, 7, KindUnbarOutgoing, json.RawMessage(`{"reason":"lifted","notice":"outgoing_back"}`), "rating")
			return err
		}, ErrInvalid, "notice"},
		{"bar_outgoing with a misspelt member", func() error {
			_, err := svc.SubmitSystem(ctx, 7, KindBarOutgoing, json.RawMessage(`{"reason":"balance_exhausted","notise":"outgoing_barred"}`), "rating")
			return err
		}, ErrInvalid, "params"},
		{"no reason", func() error {
			_, err := svc.SubmitSystem(ctx, 7, KindUnbarData, json.RawMessage(`{}`), "rating")
			return err
		}, ErrInvalid, "reason"},
		{"unknown subscription", func() error {
			_, err := svc.SubmitSystem(ctx, 8, KindUnbarData, json.RawMessage(`{"reason":"topup"}`), "rating")
			return err
		}, ErrSubscriptionNotFound, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.submit()
			var ie *InputError
			if !errors.Is(err, tt.want) || (tt.field != "" && (!errors.As(err, &ie) || ie.Field != tt.field)) {
				t.Fatalf("error %v, want %v on %q", err, tt.want, tt.field)
			}
		})
	}
	if len(queue.requests) != 1 {
		t.Errorf("refused submissions queued %d requests", len(queue.requests)-1)
	}
}

func TestApplyDataBarring(t *testing.T) {
	t.Parallel()
	sub := Subscription{ID: 3, MSISDN: "447700900003", Subscriber: Subscriber{Language: "he"}}
	tests := []struct {
		name       string
		kind       Kind
		status     SubscriptionStatus
		barred     bool
		params     string
		want       Barring
		wantNotice string // "" for none
	}{
		{"bar an active line", KindBarData, StatusActive, false, `{"reason":"balance_exhausted","notice":"balance_exhausted"}`, Barring{Data: true}, "balance_exhausted"},
		{"bar a barred line again", KindBarData, StatusActive, true, `{"reason":"data_allowance_exhausted"}`, Barring{Data: true}, ""},
		{"bar a suspended line", KindBarData, StatusSuspended, false, `{"reason":"balance_exhausted"}`, Barring{All: true, Data: true}, ""},
		{"lift the bar", KindUnbarData, StatusActive, true, `{"reason":"topup","notice":"data_resumed"}`, Barring{}, "data_resumed"},
		{"lift the bar of a suspended line", KindUnbarData, StatusSuspended, true, `{"reason":"new_period"}`, Barring{All: true}, ""},
		{"lift a bar that is not there", KindUnbarData, StatusActive, false, `{"reason":"new_period"}`, Barring{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := sub
			s.Status, s.DataBarred = tt.status, tt.barred
			store, queue, gw := newMemStore(s), &memQueue{}, &fakeGateway{}
			svc := &Service{Store: store, Queue: queue, Gateway: gw}
			r, err := svc.SubmitSystem(context.Background(), s.ID, tt.kind, json.RawMessage(tt.params), "rating")
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Apply(context.Background(), r.ID); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if d := cmp.Diff([]barringCall{{r.ID, s.MSISDN, tt.want}}, gw.calls); d != "" {
				t.Errorf("gateway calls (-want +got):\n%s", d)
			}
			done, _ := store.Request(context.Background(), r.ID)
			var p BarringParams
			_ = json.Unmarshal(json.RawMessage(tt.params), &p)
			var outcome map[string]any
			if err := json.Unmarshal(done.Outcome, &outcome); err != nil || done.State != StateDone {
				t.Fatalf("request %s with outcome %s (%v)", done.State, done.Outcome, err)
			}
			if d := cmp.Diff(map[string]any{"data_barred": tt.kind == KindBarData, "reason": p.Reason}, outcome); d != "" {
				t.Errorf("outcome (-want +got):\n%s", d)
			}
			got, _ := store.Subscription(context.Background(), s.ID)
			if got.DataBarred != (tt.kind == KindBarData) || got.Status != tt.status {
				t.Errorf("after %s: data barred %v, status %s", tt.kind, got.DataBarred, got.Status)
			}
			var want []Notice
			if tt.wantNotice != "" {
				want = []Notice{{ID: r.ID + ":sms", Channel: "sms", To: s.MSISDN, Language: "he", Key: tt.wantNotice, Data: map[string]any{}}}
			}
			// Stored with the change (the outbox), not queued as tasks.
			if d := cmp.Diff(want, store.notices()); d != "" {
				t.Errorf("notices (-want +got):\n%s", d)
			}
			if len(queue.notices) != 0 {
				t.Errorf("%d notices queued as tasks, want none", len(queue.notices))
			}
		})
	}
}

// TestSuspendResumeKeepDataBar: suspend and resume set the whole barring,
// so they must carry the data bar, not lift it.
func TestSuspendResumeKeepDataBar(t *testing.T) {
	t.Parallel()
	for _, barred := range []bool{false, true} {
		s := Subscription{ID: 5, MSISDN: "447700900005", Status: StatusActive, DataBarred: barred}
		store, gw := newMemStore(s), &fakeGateway{}
		svc := &Service{Store: store, Queue: &memQueue{}, Gateway: gw}
		for _, k := range []Kind{KindSuspend, KindResume} {
			r, err := svc.Submit(context.Background(), s.ID, k, nil, "operator")
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Apply(context.Background(), r.ID); err != nil {
				t.Fatalf("Apply %s: %v", k, err)
			}
		}
		want := []Barring{{All: true, Data: barred}, {All: false, Data: barred}}
		var got []Barring
		for _, c := range gw.calls {
			got = append(got, c.Barring)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("data barred %v: barrings sent (-want +got):\n%s", barred, d)
		}
		if sub, _ := store.Subscription(context.Background(), s.ID); sub.DataBarred != barred {
			t.Errorf("suspend and resume changed data barred to %v", sub.DataBarred)
		}
	}
}

func TestApplyDataBarringFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    SubscriptionStatus
		gateway   error
		wantState State
	}{
		{"gateway down: retried", StatusActive, errors.New("connection refused"), StatePending},
		{"unknown on the network: failed", StatusActive, ErrPermanent, StateFailed},
		{"ended line: failed", StatusEnded, nil, StateFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := Subscription{ID: 9, MSISDN: "447700900009", Status: tt.status}
			store, queue := newMemStore(s), &memQueue{}
			svc := &Service{Store: store, Queue: queue, Gateway: &fakeGateway{err: tt.gateway}}
			r, err := svc.SubmitSystem(context.Background(), s.ID, KindBarData, json.RawMessage(`{"reason":"balance_exhausted","notice":"balance_exhausted"}`), "rating")
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Apply(context.Background(), r.ID); err == nil {
				t.Fatal("Apply: no error")
			}
			got, _ := store.Request(context.Background(), r.ID)
			sub, _ := store.Subscription(context.Background(), s.ID)
			if n := len(queue.notices) + len(store.notices()); got.State != tt.wantState || sub.DataBarred || n != 0 {
				t.Errorf("request %s, data barred %v, %d notices; want %s, not barred, no notice", got.State, sub.DataBarred, n, tt.wantState)
			}
		})
	}
}

// smsRecorder is an SMSSender that keeps what it is given.
type smsRecorder struct{ sent []SMS }

func (r *smsRecorder) SendSMS(_ context.Context, m SMS) (SMSResult, error) {
	r.sent = append(r.sent, m)
	return SMSResult{MessageIDs: []string{"m1"}, Parts: 1}, nil
}

// TestBarringNoticeText: the notice a barring queues, once through JSON as
// its task carries it, is sent in the subscriber's language.
func TestBarringNoticeText(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ lang, key, want string }{
		{"en", "balance_exhausted", "Your balance is used up, so mobile data is paused. Top up to continue."},
		{"da", "data_resumed", "Din mobildata virker igen."},
		{"he-IL", "data_resumed", "הגלישה שלך חזרה לפעול."},
		{"ru", "data_barred", "Пакет мобильного интернета израсходован полностью, поэтому мобильный интернет приостановлен. Звонки и SMS по-прежнему доступны."},
	} {
		raw, _ := json.Marshal(Notice{ID: "r:sms", Channel: "sms", To: "447700900001", Language: tt.lang, Key: tt.key, Data: map[string]any{}})
		var n Notice
		if err := json.Unmarshal(raw, &n); err != nil {
			t.Fatal(err)
		}
		sms := &smsRecorder{}
		svc := &Service{SMS: sms, SMSFrom: "simcore"}
		if err := svc.SendNotice(context.Background(), n, nil); err != nil {
			t.Fatalf("SendNotice %s %s: %v", tt.lang, tt.key, err)
		}
		if len(sms.sent) != 1 || sms.sent[0].Text != tt.want || sms.sent[0].To != "447700900001" {
			t.Errorf("%s %s: sent %+v, want %q", tt.lang, tt.key, sms.sent, tt.want)
		}
	}
}

// TestBarringKeepsTheOtherBars: every kind that sets the barring sends the
// bars it does not change as the subscription records them, so an outgoing
// bar survives a data bar, a suspension and a resumption, and the other way
// round; bar_outgoing and unbar_outgoing record only the outgoing bar.
func TestBarringKeepsTheOtherBars(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        SubscriptionStatus
		data, out     bool
		kind          Kind
		want          Barring
		wantData      bool
		wantOut       bool
		wantOutcome   map[string]any
		wantStatusNow SubscriptionStatus
	}{
		{"bar outgoing keeps data off", StatusActive, false, false, KindBarOutgoing, Barring{Outgoing: true}, false, true,
			map[string]any{"outgoing_barred": true, "reason": "balance_exhausted"}, StatusActive},
		{"bar outgoing keeps the data bar", StatusActive, true, false, KindBarOutgoing, Barring{Data: true, Outgoing: true}, true, true,
			map[string]any{"outgoing_barred": true, "reason": "balance_exhausted"}, StatusActive},
		{"unbar outgoing keeps the data bar", StatusActive, true, true, KindUnbarOutgoing, Barring{Data: true}, true, false,
			map[string]any{"outgoing_barred": false, "reason": "balance_exhausted"}, StatusActive},
		{"bar outgoing on a suspended line", StatusSuspended, false, false, KindBarOutgoing, Barring{All: true, Outgoing: true}, false, true,
			map[string]any{"outgoing_barred": true, "reason": "balance_exhausted"}, StatusSuspended},
		{"bar data keeps the outgoing bar", StatusActive, false, true, KindBarData, Barring{Data: true, Outgoing: true}, true, true,
			map[string]any{"data_barred": true, "reason": "balance_exhausted"}, StatusActive},
		{"unbar data keeps the outgoing bar", StatusActive, true, true, KindUnbarData, Barring{Outgoing: true}, false, true,
			map[string]any{"data_barred": false, "reason": "balance_exhausted"}, StatusActive},
		{"suspend keeps both bars", StatusActive, true, true, KindSuspend, Barring{All: true, Data: true, Outgoing: true}, true, true,
			map[string]any{"status": "suspended"}, StatusSuspended},
		{"resume keeps the outgoing bar", StatusSuspended, false, true, KindResume, Barring{Outgoing: true}, false, true,
			map[string]any{"status": "active"}, StatusActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := Subscription{ID: 7, MSISDN: "447700900007", Status: tt.status, DataBarred: tt.data, OutgoingBarred: tt.out}
			store, gw := newMemStore(s), &fakeGateway{}
			svc := &Service{Store: store, Queue: &memQueue{}, Gateway: gw}
			var (
				r   Request
				err error
			)
			if IsUserKind(tt.kind) {
				r, err = svc.Submit(context.Background(), s.ID, tt.kind, nil, "operator")
			} else {
				r, err = svc.SubmitSystem(context.Background(), s.ID, tt.kind, json.RawMessage(`{"reason":"balance_exhausted"}`), "rating")
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Apply(context.Background(), r.ID); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if d := cmp.Diff([]barringCall{{r.ID, s.MSISDN, tt.want}}, gw.calls); d != "" {
				t.Errorf("gateway calls (-want +got):\n%s", d)
			}
			done, _ := store.Request(context.Background(), r.ID)
			var outcome map[string]any
			if err := json.Unmarshal(done.Outcome, &outcome); err != nil || done.State != StateDone {
				t.Fatalf("request %s with outcome %s (%v)", done.State, done.Outcome, err)
			}
			if d := cmp.Diff(tt.wantOutcome, outcome); d != "" {
				t.Errorf("outcome (-want +got):\n%s", d)
			}
			got, _ := store.Subscription(context.Background(), s.ID)
			if got.DataBarred != tt.wantData || got.OutgoingBarred != tt.wantOut || got.Status != tt.wantStatusNow {
				t.Errorf("after %s: data barred %v, outgoing barred %v, %s; want %v, %v, %s",
					tt.kind, got.DataBarred, got.OutgoingBarred, got.Status, tt.wantData, tt.wantOut, tt.wantStatusNow)
			}
		})
	}
}
