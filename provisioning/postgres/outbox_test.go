package postgres_test

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/provisioning"
)

// outboxRow is a notice as the outbox holds it.
type outboxRow struct {
	State, LastError string
	Attempts         int
}

func (e *env) outbox(t *testing.T, id string) (outboxRow, bool) {
	t.Helper()
	var r outboxRow
	err := e.pool.QueryRow(e.ctx, `SELECT state, last_error, attempts FROM notice_outbox WHERE id = $1`, id).Scan(&r.State, &r.LastError, &r.Attempts)
	if err != nil {
		return outboxRow{}, false
	}
	return r, true
}

func notice(r provisioning.Request, channel string) provisioning.Notice {
	return provisioning.Notice{ID: r.ID + ":" + channel, Channel: channel, To: "447700900001", Language: "he",
		Key: "voicemail_changed", Data: map[string]any{"Enabled": true, "Language": "he"}}
}

// TestCompleteStoresNotices: notices are stored with the change, exactly
// once, and only when the change is.
func TestCompleteStoresNotices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	voicemail := &provisioning.VoicemailSettings{Enabled: true, Language: "he"}

	r := e.request(t, l.id, provisioning.KindVoicemail, nil, time.Time{})
	e.start(t, r.ID)
	e.complete(t, r.ID, provisioning.Change{Voicemail: voicemail, Notices: []provisioning.Notice{notice(r, "sms")}})
	// A repeated completion (the worker died before it saw the commit)
	// stores no second notice, nor one it did not store the first time.
	e.complete(t, r.ID, provisioning.Change{Voicemail: voicemail, Notices: []provisioning.Notice{notice(r, "sms"), notice(r, "email")}})
	if got, ok := e.outbox(t, r.ID+":sms"); !ok || got != (outboxRow{State: "pending"}) {
		t.Errorf("sms notice %+v (stored %v), want pending", got, ok)
	}
	if _, ok := e.outbox(t, r.ID+":email"); ok {
		t.Error("a repeated completion stored a notice")
	}

	// A swap takes the transaction path: its notices too.
	card := e.sim(t)
	swap := e.request(t, l.id, provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: card.ICCID}, time.Time{})
	e.start(t, swap.ID)
	e.complete(t, swap.ID, provisioning.Change{SwapTo: &card, Notices: []provisioning.Notice{notice(swap, "sms"), notice(swap, "email")}})
	for _, ch := range []string{"sms", "email"} {
		if _, ok := e.outbox(t, swap.ID+":"+ch); !ok {
			t.Errorf("swap's %s notice not stored", ch)
		}
	}

	// A completion that fails stores nothing, on either path.
	for _, ch := range []provisioning.Change{
		{Forwarding: &provisioning.ForwardingParams{Condition: provisioning.ForwardBusy, Number: "+44"}},
		{SwapTo: &provisioning.SIM{ICCID: newICCID()}},
	} {
		bad := e.request(t, l.id, provisioning.KindForwarding, nil, time.Time{})
		e.start(t, bad.ID)
		ch.Notices = []provisioning.Notice{notice(bad, "sms")}
		if err := e.store.Complete(e.ctx, bad.ID, nil, ch); err == nil {
			t.Fatal("Complete with a bad change: no error")
		}
		if _, ok := e.outbox(t, bad.ID+":sms"); ok {
			t.Errorf("notice of a completion that failed (%+v) was stored", ch)
		}
		if err := e.store.Fail(e.ctx, bad.ID, "bad"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNoticeOutbox: claims take due notices once per lease, concurrent
// claims take different ones, and sent, retried and failed notices are
// recorded, the SMS parts of sent ones on their requests.
func TestNoticeOutbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	var want []string
	requestOf := map[string]string{}
	for range 30 {
		r := e.request(t, l.id, provisioning.KindVoicemail, nil, time.Time{})
		e.start(t, r.ID)
		e.complete(t, r.ID, provisioning.Change{Notices: []provisioning.Notice{notice(r, "sms")}})
		want = append(want, r.ID+":sms")
		requestOf[r.ID+":sms"] = r.ID
	}
	sort.Strings(want)

	// Three senders at once share the notices out, none twice.
	var (
		mu  sync.Mutex
		got []string
		wg  sync.WaitGroup
	)
	for range 3 {
		wg.Go(func() {
			ns, err := e.store.ClaimNotices(e.ctx, 12, time.Hour)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, n := range ns {
				if n.Attempts != 1 || n.Key != "voicemail_changed" || n.Data["Language"] != "he" || n.RequestID != requestOf[n.ID] {
					t.Errorf("claimed %+v, want attempt 1 of the stored notice", n)
				}
				got = append(got, n.ID)
			}
		})
	}
	wg.Wait()
	sort.Strings(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("claimed notices (-want +got):\n%s", d)
	}
	// Within their lease they are not claimed again.
	if ns, err := e.store.ClaimNotices(e.ctx, 100, time.Hour); err != nil || len(ns) != 0 {
		t.Fatalf("claim within the lease: %d notices (%v), want none", len(ns), err)
	}

	sent, retried, failed := want[:28], want[28], want[29]
	var record []provisioning.SentNotice
	for i, id := range sent {
		// Two parts each; the first notice's parts were recorded for
		// another request before (SMSCs reuse ids), so they move.
		record = append(record, provisioning.SentNotice{ID: id, RequestID: requestOf[id],
			Messages: []string{fmt.Sprintf("n-%d-b", i), fmt.Sprintf("n-%d-a", i)}})
	}
	other := e.request(t, l.id, provisioning.KindAPNSMS, nil, time.Time{})
	if err := e.store.RecordMessages(e.ctx, other.ID, []string{"n-0-a"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.NoticesSent(e.ctx, record); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RetryNotice(e.ctx, retried, "ESME_RTHROTTLED", 0); err != nil {
		t.Fatal(err)
	}
	if err := e.store.FailNotice(e.ctx, failed, "ESME_RINVDSTADR"); err != nil {
		t.Fatal(err)
	}
	// Only the retried one is due again, with its attempt counted.
	ns, err := e.store.ClaimNotices(e.ctx, 100, 0)
	if err != nil || len(ns) != 1 || ns[0].ID != retried || ns[0].Attempts != 2 {
		t.Fatalf("claim after recording: %+v (%v), want %s on attempt 2", ns, err, retried)
	}
	// A lease that has run out (a sender that died) makes it due again.
	if ns, err := e.store.ClaimNotices(e.ctx, 100, time.Hour); err != nil || len(ns) != 1 || ns[0].Attempts != 3 {
		t.Fatalf("claim after the lease: %+v (%v), want %s on attempt 3", ns, err, retried)
	}
	if err := e.store.RetryNotice(e.ctx, retried, "ESME_RSYSERR", time.Hour); err != nil {
		t.Fatal(err)
	}
	if ns, err := e.store.ClaimNotices(e.ctx, 100, time.Hour); err != nil || len(ns) != 0 {
		t.Fatalf("claim before the retry is due: %+v (%v), want none", ns, err)
	}
	for id, w := range map[string]outboxRow{
		sent[0]: {State: "sent", Attempts: 1},
		retried: {State: "pending", LastError: "ESME_RSYSERR", Attempts: 3},
		failed:  {State: "failed", LastError: "ESME_RINVDSTADR", Attempts: 1},
	} {
		if got, _ := e.outbox(t, id); got != w {
			t.Errorf("notice %s: %+v, want %+v", id, got, w)
		}
	}
	// Recording a sent notice again changes nothing.
	if err := e.store.FailNotice(e.ctx, sent[0], "late"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.outbox(t, sent[0]); got.State != "sent" {
		t.Errorf("sent notice is %s after a late FailNotice", got.State)
	}

	// The parts are the request's, in the order sent and named by their
	// notice, and their receipts are recorded.
	if known, err := e.store.RecordReceipt(e.ctx, "n-0-b", "DELIVRD", time.Time{}); err != nil || !known {
		t.Fatalf("receipt for a notice's part: known %v, %v", known, err)
	}
	r, err := e.store.Request(e.ctx, requestOf[sent[0]])
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, m := range r.Messages {
		parts = append(parts, m.MessageID+" "+m.State+" "+m.Notice)
	}
	if d := cmp.Diff([]string{"n-0-b DELIVRD " + sent[0], "n-0-a SUBMITTED " + sent[0]}, parts); d != "" {
		t.Errorf("messages of the notice's request (-want +got):\n%s", d)
	}
	if r, err := e.store.Request(e.ctx, other.ID); err != nil || len(r.Messages) != 0 {
		t.Errorf("the earlier holder of a reused id kept %+v (%v)", r.Messages, err)
	}
	// A notice of its own (no request) records no part.
	if err := e.store.NoticesSent(e.ctx, []provisioning.SentNotice{{ID: "rating:x", Messages: []string{"n-own"}}}); err != nil {
		t.Fatal(err)
	}
	if known, err := e.store.RecordReceipt(e.ctx, "n-own", "DELIVRD", time.Time{}); err != nil || known {
		t.Errorf("a part of a notice without request: known %v, %v; want unknown", known, err)
	}
}
