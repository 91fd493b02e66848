package asynq_test

import (
	"context"
	"testing"
	"time"

	hq "github.com/hibiken/asynq"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/provisioning"
	wasynq "github.com/simcore/simcore/workers/asynq"
)

// TestSweeperFindsLostTaskBehindScheduledRequests: every line with an
// end date has a deactivate request pending until that date, untouched
// since the dates request that scheduled it. With more than the sweeper's
// batch (1000) of those, a request whose task was lost (Redis flushed) is
// still found and run: the sweeper looks at due requests only. The
// scheduled ones used to take every place in every sweep.
func TestSweeperFindsLostTaskBehindScheduledRequests(t *testing.T) {
	e := newEnv(t, 0, 0)
	ctx := testenv.Context(t, 2*time.Minute)

	// 1001 deactivations due in 30 days, scheduled an hour ago (by a dates
	// request; inserted directly, as its completion does, for speed).
	scheduled := e.subscription(t, 2, "en")
	if _, err := e.pool.Exec(ctx, `
		INSERT INTO provisioning_requests (subscription_id, kind, params, requested_by, not_before, created_at, updated_at)
		SELECT $1, 'deactivate', '{"dates_version":1}', 'schedule:test', now() + interval '30 days', now() - interval '1 hour', now() - interval '1 hour'
		FROM generate_series(1, 1001)`, scheduled); err != nil {
		t.Fatal(err)
	}

	// A request on another line whose task is lost: recorded, queued, and
	// then Redis loses the task (flush, restart without persistence).
	e.worker.Shutdown()
	sub := e.subscription(t, 1, "en")
	r := e.submit(t, sub, provisioning.KindDates, provisioning.DatesParams{Start: time.Now().UTC().Truncate(24 * time.Hour)})
	insp := hq.NewInspector(e.redis)
	t.Cleanup(func() { insp.Close() })
	if err := insp.DeleteTask(wasynq.QueueName, "req:"+r.ID); err != nil {
		t.Fatal(err)
	}
	// ... ten minutes ago: stale by the sweeper's 5 minutes.
	if _, err := e.pool.Exec(ctx, `UPDATE provisioning_requests SET updated_at = now() - interval '10 minutes' WHERE id = $1`, r.ID); err != nil {
		t.Fatal(err)
	}

	w := e.startWorker(t)
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go w.Sweep(sctx, 100*time.Millisecond, 5*time.Minute)

	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		got, err := e.store.Request(ctx, r.ID)
		if err == nil && got.State == provisioning.StateDone {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, _ := e.store.Request(ctx, r.ID)
	_, terr := insp.GetTaskInfo(wasynq.QueueName, "req:"+r.ID)
	t.Fatalf("lost request %s still %s after 15 s of sweeps every 100 ms (its task: %v); want it re-queued and run", r.ID, got.State, terr)
}

// stallingMailer is a mail server that accepts the connection and then
// answers nothing: every send lasts until its context ends.
type stallingMailer struct{}

func (stallingMailer) SendEmail(ctx context.Context, _ provisioning.Email) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestNoticeSentOnceDespiteASlowSend: a suspension has an SMS and an
// e-mail notice, claimed in one batch; the SMS goes at once and the mail
// server stalls past the batch's deadline. The SMS is still recorded sent
// (the outcomes are recorded with a context of their own), so it does not
// go out again when its lease ends; it used to, with no process crashing.
func TestNoticeSentOnceDespiteASlowSend(t *testing.T) {
	const line = 7
	e := newEnv(t, 0, 0)
	sub := e.line(t, line, "en")
	e.worker.Shutdown() // this test sends the outbox itself
	ctx := testenv.Context(t, time.Minute)
	r := e.submit(t, sub, provisioning.KindSuspend, struct{}{})
	if err := e.svc.Apply(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	batch, cancel := context.WithTimeout(ctx, 2*time.Second) // the batch deadline, short
	defer cancel()
	run, err := e.svc.SendNotices(batch, stallingMailer{}, 10)
	if err != nil {
		t.Fatalf("SendNotices: %+v, %v", run, err)
	}
	if state, lastErr, _ := e.outboxRow(t, r.ID+":sms"); state != "sent" {
		t.Errorf("the SMS the SMSC accepted is %s (%s) after the batch ran out on the e-mail; want sent", state, lastErr)
	}
	if state, lastErr, _ := e.outboxRow(t, r.ID+":email"); state != "pending" || lastErr == "" {
		t.Errorf("the stalled e-mail is %s (%q), want pending with its error, to be retried", state, lastErr)
	}
	if n := smsTo(e.smsc, msisdn(line), "is suspended"); n != 1 {
		t.Errorf("%d suspension SMS, want 1", n)
	}
}

// TestSweeperFindsRequestOrphanedInProgress: a worker dies in the middle of
// an attempt (its request in_progress), and Redis restarts empty (the host
// rebooted): the task that Asynq would have recovered is gone. The request
// is still in_progress, which holds back every later request of its line;
// the sweeper used to look at pending requests only, so the line stayed
// stuck for ever. It must re-queue the orphan, run it, and then the line's
// later request, in order.
func TestSweeperFindsRequestOrphanedInProgress(t *testing.T) {
	e := newEnv(t, 0, 0)
	ctx := testenv.Context(t, 2*time.Minute)
	sub := e.line(t, 1, "en")
	e.worker.Shutdown()

	// The attempt the dead worker was making: started (in_progress, one
	// attempt counted), then nothing more from it.
	first := e.submit(t, sub, provisioning.KindVoicemail, provisioning.VoicemailParams{Enabled: true, Language: "en"})
	if _, _, err := e.store.StartRequest(ctx, first.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	// A later change to the same line, queued behind it.
	second := e.submit(t, sub, provisioning.KindVoicemail, provisioning.VoicemailParams{Enabled: false, Language: "en"})
	// Redis restarts empty: both tasks are lost.
	insp := hq.NewInspector(e.redis)
	t.Cleanup(func() { insp.Close() })
	for _, id := range []string{first.ID, second.ID} {
		if err := insp.DeleteTask(wasynq.QueueName, "req:"+id); err != nil {
			t.Fatal(err)
		}
	}
	// ... ten minutes ago: stale by the sweeper's 5 minutes.
	if _, err := e.pool.Exec(ctx, `UPDATE provisioning_requests SET updated_at = now() - interval '10 minutes' WHERE id = ANY($1)`,
		[]string{first.ID, second.ID}); err != nil {
		t.Fatal(err)
	}

	w := e.startWorker(t)
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go w.Sweep(sctx, 100*time.Millisecond, 5*time.Minute)

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		a, aerr := e.store.Request(ctx, first.ID)
		b, berr := e.store.Request(ctx, second.ID)
		if aerr == nil && berr == nil && a.State == provisioning.StateDone && b.State == provisioning.StateDone {
			if ns, _ := e.hlr.Subscriber(msisdn(1)); ns.Voicemail.Enabled {
				t.Fatal("voicemail is on: the line's requests were applied out of order")
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	a, _ := e.store.Request(ctx, first.ID)
	b, _ := e.store.Request(ctx, second.ID)
	t.Fatalf("after 30 s of sweeps every 100 ms: orphaned request %s, the one behind it %s; want both re-queued and done", a.State, b.State)
}
