package postgres_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/simcore/simcore/provisioning"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestCreateRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	inUse := e.line(t)
	later := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	for _, c := range []struct {
		name         string
		subscription int64
		kind         provisioning.Kind
		params       json.RawMessage
		notBefore    time.Time
		want         error
		wantParams   string // as stored, compared as JSON
	}{
		{name: "voicemail", kind: provisioning.KindVoicemail, params: json.RawMessage(`{"enabled":true,"language":"en"}`),
			wantParams: `{"enabled":true,"language":"en"}`},
		{name: "no params", kind: provisioning.KindSuspend, wantParams: `{}`},
		{name: "scheduled", kind: provisioning.KindActivate, params: json.RawMessage(`{"dates_version":1}`), notBefore: later,
			wantParams: `{"dates_version":1}`},
		{name: "swap", kind: provisioning.KindSIMSwap},
		{name: "swap to an unknown SIM", kind: provisioning.KindSIMSwap,
			params: mustJSON(provisioning.SIMSwapParams{NewICCID: newICCID()}), want: provisioning.ErrSIMNotFound},
		{name: "swap to a SIM in use", kind: provisioning.KindSIMSwap,
			params: mustJSON(provisioning.SIMSwapParams{NewICCID: inUse.sim.ICCID}), want: provisioning.ErrSIMNotInStock},
		{name: "swap to its own SIM", kind: provisioning.KindSIMSwap,
			params: mustJSON(provisioning.SIMSwapParams{NewICCID: l.sim.ICCID}), want: provisioning.ErrSIMNotInStock},
		{name: "swap without a SIM", kind: provisioning.KindSIMSwap, params: json.RawMessage(`{}`), want: provisioning.ErrInvalid},
		{name: "swap with bad params", kind: provisioning.KindSIMSwap, params: json.RawMessage(`[1]`), want: provisioning.ErrInvalid},
		{name: "unknown kind", kind: "teleport", want: provisioning.ErrInvalid},
		{name: "unknown subscription", subscription: l.id + 1000, kind: provisioning.KindAPNSMS, want: provisioning.ErrSubscriptionNotFound},
		{name: "swap of an unknown subscription", subscription: l.id + 1000, kind: provisioning.KindSIMSwap, want: provisioning.ErrSubscriptionNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var newSIM string
			if c.kind == provisioning.KindSIMSwap && c.params == nil {
				newSIM = e.sim(t).ICCID
				c.params = mustJSON(provisioning.SIMSwapParams{NewICCID: newSIM})
				c.wantParams = string(c.params)
			}
			sub := c.subscription
			if sub == 0 {
				sub = l.id
			}
			r := provisioning.Request{SubscriptionID: sub, Kind: c.kind, Params: c.params, RequestedBy: "op:1", NotBefore: c.notBefore,
				State: provisioning.StateDone, Attempts: 7} // ignored: a new request is pending
			before := time.Now()
			err := e.store.CreateRequest(e.ctx, &r)
			wantErr(t, "CreateRequest", err, c.want)
			if c.want != nil {
				if r.ID != "" {
					t.Errorf("failed CreateRequest set ID %q", r.ID)
				}
				return
			}
			if !uuidRE.MatchString(r.ID) || r.State != provisioning.StatePending || r.Attempts != 0 ||
				r.CreatedAt.Before(before.Add(-5*time.Second)) || !r.UpdatedAt.Equal(r.CreatedAt) {
				t.Errorf("created %+v: want a UUID, pending, 0 attempts, timestamps", r)
			}
			wantNotBefore := c.notBefore
			if wantNotBefore.IsZero() {
				wantNotBefore = r.CreatedAt
			}
			if !r.NotBefore.Equal(wantNotBefore) {
				t.Errorf("NotBefore %s, want %s", r.NotBefore, wantNotBefore)
			}
			got, err := e.store.Request(e.ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := r
			want.Params = json.RawMessage(c.wantParams)
			if d := cmp.Diff(want, got, cmp.Comparer(jsonEqual)); d != "" {
				t.Errorf("Request (-want +got):\n%s", d)
			}
			if newSIM != "" {
				if s, by := e.simState(t, newSIM), e.reservedBy(t, newSIM); s != provisioning.SIMReserved || by != r.ID {
					t.Errorf("new SIM %s reserved by %q, want reserved by %s", s, by, r.ID)
				}
			}
		})
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return cmp.Equal(x, y)
}

func TestRequestNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, id := range []string{"2b0a3c55-1f43-4d3e-9a43-8f3f0c9c2a10", "not-a-uuid", ""} {
		_, err := e.store.Request(e.ctx, id)
		wantErr(t, "Request "+id, err, provisioning.ErrRequestNotFound)
		_, _, err = e.store.StartRequest(e.ctx, id, time.Now())
		wantErr(t, "StartRequest "+id, err, provisioning.ErrRequestNotFound)
		wantErr(t, "RetryLater "+id, e.store.RetryLater(e.ctx, id, "x"), provisioning.ErrRequestNotFound)
		wantErr(t, "Complete "+id, e.store.Complete(e.ctx, id, nil, provisioning.Change{}), provisioning.ErrRequestNotFound)
		wantErr(t, "Fail "+id, e.store.Fail(e.ctx, id, "x"), provisioning.ErrRequestNotFound)
		wantErr(t, "RecordMessages "+id, e.store.RecordMessages(e.ctx, id, []string{"m"}), provisioning.ErrRequestNotFound)
		wantErr(t, "RecordMessages none "+id, e.store.RecordMessages(e.ctx, id, nil), provisioning.ErrRequestNotFound)
	}
}

// TestSwapReservationRace: of concurrent swaps to one card, exactly one is
// stored; the others find the card reserved.
func TestSwapReservationRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const racers = 8
	lines := make([]line, racers)
	for i := range lines {
		lines[i] = e.line(t)
	}
	for round := range 5 {
		card := e.sim(t)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, racers)
			ids   = make([]string, racers)
		)
		for i := range racers {
			wg.Go(func() {
				<-start
				// Half race on one subscription, half on others.
				r := provisioning.Request{SubscriptionID: lines[i%2*i].id, Kind: provisioning.KindSIMSwap,
					Params: mustJSON(provisioning.SIMSwapParams{NewICCID: card.ICCID})}
				errs[i] = e.store.CreateRequest(e.ctx, &r)
				ids[i] = r.ID
			})
		}
		close(start)
		wg.Wait()
		winner := ""
		for i, err := range errs {
			switch {
			case err == nil && winner == "":
				winner = ids[i]
			case err == nil:
				t.Errorf("round %d: two swaps reserved %s", round, card.ICCID)
			case !errors.Is(err, provisioning.ErrSIMNotInStock):
				t.Errorf("round %d: losing swap: %v, want ErrSIMNotInStock", round, err)
			}
		}
		if winner == "" {
			t.Fatalf("round %d: no swap reserved the card", round)
		}
		if by := e.reservedBy(t, card.ICCID); by != winner {
			t.Errorf("round %d: card reserved by %q, want the winner %s", round, by, winner)
		}
		var n int
		if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM provisioning_requests WHERE params->>'new_iccid' = $1`, card.ICCID).Scan(&n); err != nil || n != 1 {
			t.Errorf("round %d: %d swap requests stored (%v), want 1", round, n, err)
		}
	}
}

func TestMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	r := e.request(t, l.id, provisioning.KindAPNSMS, nil, time.Time{})
	r2 := e.request(t, l.id, provisioning.KindAPNSMS, nil, time.Time{})
	if err := e.store.RecordMessages(e.ctx, r.ID, []string{"m-3", "m-1", "m-2", "m-1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RecordMessages(e.ctx, r.ID, []string{"m-3"}); err != nil { // a retry
		t.Fatal(err)
	}
	if err := e.store.RecordMessages(e.ctx, r.ID, nil); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name, id, state string
		at              time.Time
		known           bool
	}{
		{"delivered", "m-1", "DELIVRD", at, true},
		{"en route", "m-2", "ENROUTE", at, true},
		{"a late en route does not undo delivered", "m-1", "ENROUTE", at.Add(time.Minute), true},
		{"undeliverable after en route", "m-2", "UNDELIV", at.Add(time.Minute), true},
		{"unknown message", "m-9", "DELIVRD", at, false},
	} {
		known, err := e.store.RecordReceipt(e.ctx, c.id, c.state, c.at)
		if err != nil || known != c.known {
			t.Errorf("%s: RecordReceipt = %v, %v; want %v", c.name, known, err, c.known)
		}
	}
	got, err := e.store.Request(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []provisioning.MessageState{
		{MessageID: "m-3", State: "SUBMITTED"},
		{MessageID: "m-1", State: "DELIVRD", UpdatedAt: at},
		{MessageID: "m-2", State: "UNDELIV", UpdatedAt: at.Add(time.Minute)},
	}
	ignoreSubmittedTime := cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".UpdatedAt" },
		cmp.Comparer(func(a, b time.Time) bool { return a.IsZero() || b.IsZero() || a.Equal(b) }))
	if d := cmp.Diff(want, got.Messages, ignoreSubmittedTime); d != "" {
		t.Errorf("messages (-want +got):\n%s", d)
	}
	// A receipt without a time is stamped now.
	if known, err := e.store.RecordReceipt(e.ctx, "m-3", "DELIVRD", time.Time{}); err != nil || !known {
		t.Fatalf("RecordReceipt without a time: %v, %v", known, err)
	}
	got, _ = e.store.Request(e.ctx, r.ID)
	if m := got.Messages[0]; m.State != "DELIVRD" || time.Since(m.UpdatedAt) > time.Minute {
		t.Errorf("m-3 = %+v, want DELIVRD now", m)
	}
	// An SMSC reusing an id moves it to the new request.
	if err := e.store.RecordMessages(e.ctx, r2.ID, []string{"m-1"}); err != nil {
		t.Fatal(err)
	}
	got2, _ := e.store.Request(e.ctx, r2.ID)
	if len(got2.Messages) != 1 || got2.Messages[0].State != "SUBMITTED" {
		t.Errorf("reused message id: %+v, want m-1 SUBMITTED", got2.Messages)
	}
}

func TestListRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	empty := e.line(t)
	var ids []string
	for _, k := range []provisioning.Kind{provisioning.KindVoicemail, provisioning.KindSuspend, provisioning.KindResume} {
		ids = append(ids, e.request(t, l.id, k, nil, time.Time{}).ID)
	}
	if err := e.store.RecordMessages(e.ctx, ids[2], []string{"x-1", "x-2"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name         string
		subscription int64
		limit        int
		want         []string
		err          error
	}{
		{"all, newest first", l.id, 0, []string{ids[2], ids[1], ids[0]}, nil},
		{"limited", l.id, 2, []string{ids[2], ids[1]}, nil},
		{"no requests", empty.id, 10, nil, nil},
		{"unknown subscription", l.id + 1000, 10, nil, provisioning.ErrSubscriptionNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := e.store.ListRequests(e.ctx, c.subscription, c.limit)
			wantErr(t, "ListRequests", err, c.err)
			var gotIDs []string
			for _, r := range got {
				gotIDs = append(gotIDs, r.ID)
			}
			if d := cmp.Diff(c.want, gotIDs, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("ListRequests (-want +got):\n%s", d)
			}
			if len(got) > 0 && len(got[0].Messages) != 2 {
				t.Errorf("newest request has %d messages, want 2", len(got[0].Messages))
			}
		})
	}
}
