package asynq_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	hq "github.com/hibiken/asynq"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/provisioning"
	wasynq "github.com/simcore/simcore/workers/asynq"
)

// flakySMS is the real SMPP sender with faults injected: the first fails
// sends with Ref ref answer a transient error.
type flakySMS struct {
	provisioning.SMSSender
	ref   string
	fails int
	mu    sync.Mutex
	tries int
}

func (f *flakySMS) SendSMS(ctx context.Context, m provisioning.SMS) (provisioning.SMSResult, error) {
	f.mu.Lock()
	if m.Ref == f.ref {
		f.tries++
	}
	n := f.tries
	f.mu.Unlock()
	if m.Ref == f.ref && n <= f.fails {
		return provisioning.SMSResult{}, errors.New("ESME_RTHROTTLED (injected)")
	}
	return f.SMSSender.SendSMS(ctx, m)
}

func (e *env) outboxRow(t *testing.T, id string) (state, lastError string, attempts int) {
	t.Helper()
	// The store has no reader for the outbox; the test reads the table.
	if err := e.pool.QueryRow(context.Background(), `SELECT state, last_error, attempts FROM notice_outbox WHERE id = $1`, id).Scan(&state, &lastError, &attempts); err != nil {
		t.Fatalf("notice %s: %v", id, err)
	}
	return state, lastError, attempts
}

// TestNoticeOutboxEndToEnd: a worker that dies after a request is done
// but before its notice is sent loses nothing: the next worker sends the
// notice, retrying the SMSC's transient errors, and sends it once. A
// number the SMSC refuses fails its notice at the first try.
func TestNoticeOutboxEndToEnd(t *testing.T) {
	const line = 6
	e := newEnv(t, 0, 0)
	sub := e.line(t, line, "en")
	refusedSub := e.subscription(t, refusedLine, "en")
	ctx := testenv.Context(t, 2*time.Minute)

	// The worker is gone; this test applies the request as the worker did
	// just before it died: the change is done, its notice not sent.
	e.worker.Shutdown()
	before := smsTo(e.smsc, msisdn(line), "")
	r := e.submit(t, sub, provisioning.KindVoicemail, provisioning.VoicemailParams{Enabled: true, Language: "en"})
	refused := e.submit(t, refusedSub, provisioning.KindDates, provisioning.DatesParams{Start: time.Now().UTC().Truncate(24 * time.Hour)})
	for _, id := range []string{r.ID, refused.ID} {
		if err := e.svc.Apply(ctx, id); err != nil {
			t.Fatalf("Apply %s: %v", id, err)
		}
	}
	if got := e.wait(t, r.ID, provisioning.StateDone); got.Attempts != 1 {
		t.Fatalf("request applied in %d attempts, want 1", got.Attempts)
	}
	time.Sleep(300 * time.Millisecond)
	if state, _, attempts := e.outboxRow(t, r.ID+":sms"); state != "pending" || attempts != 0 || smsTo(e.smsc, msisdn(line), "") != before {
		t.Fatalf("notice %s after %d attempts with no worker running; want pending, untried, not sent", state, attempts)
	}

	// The next worker: the SMSC path fails twice for this notice first.
	e.svc.SMS = &flakySMS{SMSSender: e.svc.SMS, ref: r.ID + ":sms", fails: 2}
	e.startWorker(t)
	e.waitFor(t, func() bool { return smsTo(e.smsc, msisdn(line), "Your voicemail is on") == 1 }, "the stored notice never reached the SMSC")
	e.waitFor(t, func() bool { state, _, _ := e.outboxRow(t, r.ID+":sms"); return state == "sent" }, "notice %s not marked sent", r.ID)
	if state, lastErr, attempts := e.outboxRow(t, r.ID+":sms"); attempts != 3 || !strings.Contains(lastErr, "ESME_RTHROTTLED") {
		t.Errorf("notice %s after %d attempts, last error %q; want sent at the third, after the injected errors", state, attempts, lastErr)
	}
	e.waitFor(t, func() bool { state, _, _ := e.outboxRow(t, refused.ID+":sms"); return state == "failed" }, "notice to the refused number not failed")
	if _, lastErr, attempts := e.outboxRow(t, refused.ID+":sms"); attempts != 1 || !strings.Contains(lastErr, "ESME_RINVDSTADR") {
		t.Errorf("refused notice failed after %d attempts with %q; want 1 and ESME_RINVDSTADR", attempts, lastErr)
	}
	// The requests' tasks, still queued when the first worker died, run
	// on the new one and find the requests done: no notice is sent twice.
	insp := hq.NewInspector(e.redis)
	defer insp.Close()
	for _, id := range []string{r.ID, refused.ID} {
		e.waitFor(t, func() bool {
			ti, err := insp.GetTaskInfo(wasynq.QueueName, "req:"+id)
			return err == nil && ti.State == hq.TaskStateCompleted
		}, "the queued task of request %s did not run", id)
	}
	time.Sleep(500 * time.Millisecond)
	if n := smsTo(e.smsc, msisdn(line), "") - before; n != 1 {
		t.Errorf("the SMSC accepted %d messages for the line, want the one notice", n)
	}

	// The notice's SMS asked for a receipt, and the receipt is on the
	// request, named by the notice: not refused as unknown and delivered
	// again and again.
	e.waitFor(t, func() bool {
		got, err := e.svc.Store.Request(ctx, r.ID)
		return err == nil && len(got.Messages) == 1 && got.Messages[0].State == "DELIVRD"
	}, "the notice's receipt is not on request %s", r.ID)
	got, _ := e.svc.Store.Request(ctx, r.ID)
	for _, m := range e.smsc.Messages() {
		if m.ID == got.Messages[0].MessageID && (m.RegisteredDelivery != 1 || m.Destination != msisdn(line)) {
			t.Errorf("notice part %+v: want a receipt asked for, to the line", m)
		}
	}
	if got.Messages[0].Notice != r.ID+":sms" {
		t.Errorf("request's message %+v, want it named by notice %s:sms", got.Messages[0], r.ID)
	}

	// A notice of its own (rating's, as a task) asks for no receipt: no
	// request would record it.
	earlier := map[string]bool{}
	for _, m := range e.smsc.Messages() {
		earlier[m.ID] = true
	}
	own := provisioning.Notice{ID: "rating:test", Channel: "sms", To: msisdn(line), Language: "en", Key: "voicemail_changed", Data: map[string]any{"Enabled": true, "Language": "en"}}
	if err := e.svc.Queue.EnqueueNotice(ctx, own); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, func() bool { return smsTo(e.smsc, msisdn(line), "")-before == 2 }, "the notice task was not sent")
	for _, m := range e.smsc.Messages() {
		if !earlier[m.ID] && m.RegisteredDelivery != 0 {
			t.Errorf("the notice task's SMS asked for a receipt (registered_delivery %d)", m.RegisteredDelivery)
		}
	}
}
