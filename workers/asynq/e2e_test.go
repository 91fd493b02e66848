package asynq_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/provisioning"
	wasynq "github.com/simcore/simcore/workers/asynq"
)

func TestProvisioningEndToEnd(t *testing.T) {
	e := newEnv(t, 0, 0)
	sub := e.line(t, 1, "he")

	t.Run("voicemail on in Hebrew, with an SMS notice", func(t *testing.T) {
		e.submitAndWait(t, sub, provisioning.KindVoicemail, provisioning.VoicemailParams{Enabled: true, Language: "he"}, provisioning.StateDone)
		ns, _ := e.hlr.Subscriber(msisdn(1))
		if !ns.Voicemail.Enabled || ns.Voicemail.Language != "he" {
			t.Fatalf("HLR voicemail %+v, want on/he", ns.Voicemail)
		}
		e.waitFor(t, func() bool { return smsTo(e.smsc, msisdn(1), "") > 0 }, "no SMS notice reached the SMSC")
	})

	t.Run("two quick forwarding changes apply in order", func(t *testing.T) {
		a := e.submit(t, sub, provisioning.KindForwarding, provisioning.ForwardingParams{Condition: provisioning.ForwardBusy, Number: "447700900999"})
		b := e.submit(t, sub, provisioning.KindForwarding, provisioning.ForwardingParams{Condition: provisioning.ForwardBusy})
		ra, rb := e.wait(t, a.ID, provisioning.StateDone), e.wait(t, b.ID, provisioning.StateDone)
		if !rb.UpdatedAt.After(ra.UpdatedAt) && !rb.UpdatedAt.Equal(ra.UpdatedAt) {
			t.Fatalf("second request finished before the first")
		}
		ns, _ := e.hlr.Subscriber(msisdn(1))
		if n, ok := ns.Forwarding[provisioning.ForwardBusy]; ok {
			t.Fatalf("busy forwarding is %q after set then cancel; want none", n)
		}
		got, err := e.store.Subscription(context.Background(), sub)
		if err != nil || len(got.Forwarding) != 0 {
			t.Fatalf("stored forwarding %v (%v), want none", got.Forwarding, err)
		}
	})

	t.Run("APN settings by SMS, with the delivery receipt", func(t *testing.T) {
		r := e.submitAndWait(t, sub, provisioning.KindAPNSMS, nil, provisioning.StateDone)
		e.waitFor(t, func() bool {
			got, err := e.store.Request(context.Background(), r.ID)
			return err == nil && len(got.Messages) > 0 && got.Messages[0].State == "DELIVRD"
		}, "APN SMS has no DELIVRD receipt")
		if smsTo(e.smsc, msisdn(1), "test.apn") == 0 {
			t.Fatal("no SMS carried the APN name")
		}
	})

	t.Run("SIM swap keeps the number and services, retires the old SIM", func(t *testing.T) {
		h, _ := provisioning.NewActivationHasher([]byte("0123456789abcdef0123"))
		if _, err := e.store.ImportSIMs(context.Background(), []provisioning.SIMImportRow{{ICCID: iccid(500), IMSI: "234159999999999", ActivationCode: "CODE999999"}}, h); err != nil {
			t.Fatal(err)
		}
		e.submitAndWait(t, sub, provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: iccid(500)}, provisioning.StateDone)
		ns, _ := e.hlr.Subscriber(msisdn(1))
		if ns.ICCID != iccid(500) || ns.IMSI != "234159999999999" || !ns.Voicemail.Enabled {
			t.Fatalf("HLR after swap: %+v", ns)
		}
		old, _ := e.store.SIM(context.Background(), iccid(1))
		nw, _ := e.store.SIM(context.Background(), iccid(500))
		if old.State != provisioning.SIMRetired || nw.State != provisioning.SIMActive {
			t.Fatalf("SIM states old %s new %s, want retired/active", old.State, nw.State)
		}
		e.waitFor(t, func() bool {
			for _, m := range e.mail.Messages() {
				if len(m.To) > 0 && m.To[0] == "s1@example.com" && strings.Contains(m.Text, msisdn(1)) {
					return true
				}
			}
			return false
		}, "no swap email reached the mail sink")
		// The retired SIM cannot be swapped to again.
		b, _ := json.Marshal(provisioning.SIMSwapParams{NewICCID: iccid(1)})
		if _, err := e.svc.Submit(context.Background(), sub, provisioning.KindSIMSwap, b, "test"); !errors.Is(err, provisioning.ErrSIMNotInStock) {
			t.Fatalf("swap to a retired SIM: %v, want ErrSIMNotInStock", err)
		}
	})

	t.Run("suspend and resume bar and unbar the line", func(t *testing.T) {
		e.submitAndWait(t, sub, provisioning.KindSuspend, nil, provisioning.StateDone)
		if ns, _ := e.hlr.Subscriber(msisdn(1)); !ns.Barring.All {
			t.Fatal("not barred after suspend")
		}
		e.submitAndWait(t, sub, provisioning.KindResume, nil, provisioning.StateDone)
		if ns, _ := e.hlr.Subscriber(msisdn(1)); ns.Barring.All {
			t.Fatal("still barred after resume")
		}
	})

	t.Run("an end date schedules the deactivation for that day", func(t *testing.T) {
		today := time.Now().UTC().Truncate(24 * time.Hour)
		end := today.AddDate(0, 0, 30)
		e.submitAndWait(t, sub, provisioning.KindDates, provisioning.DatesParams{Start: today, End: &end}, provisioning.StateDone)
		reqs, err := e.store.ListRequests(context.Background(), sub, 20)
		if err != nil {
			t.Fatal(err)
		}
		var deact *provisioning.Request
		for i := range reqs {
			if reqs[i].Kind == provisioning.KindDeactivate && reqs[i].NotBefore.Equal(end) {
				deact = &reqs[i]
				break
			}
		}
		if deact == nil || deact.State != provisioning.StatePending {
			t.Fatalf("no pending deactivation for %s among %d requests", end.Format(time.DateOnly), len(reqs))
		}
		// A later request is not held back by the deactivation due next month.
		e.submitAndWait(t, sub, provisioning.KindVoicemail, provisioning.VoicemailParams{Enabled: true, Language: "en"}, provisioning.StateDone)
		if ns, ok := e.hlr.Subscriber(msisdn(1)); !ok {
			t.Fatalf("line left the network before its end date: %+v", ns)
		}
	})

	t.Run("a request whose task was lost is swept up and done", func(t *testing.T) {
		p, _ := json.Marshal(provisioning.VoicemailParams{Enabled: false, Language: "en"})
		r := provisioning.Request{SubscriptionID: sub, Kind: provisioning.KindVoicemail, Params: p, State: provisioning.StatePending, RequestedBy: "test"}
		if err := e.store.CreateRequest(context.Background(), &r); err != nil { // recorded, never enqueued
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		n, err := e.svc.Sweep(context.Background(), time.Millisecond)
		if err != nil || n < 1 {
			t.Fatalf("sweep queued %d (%v), want the lost request", n, err)
		}
		e.wait(t, r.ID, provisioning.StateDone)
		if ns, _ := e.hlr.Subscriber(msisdn(1)); ns.Voicemail.Enabled {
			t.Fatal("the swept request did not reach the network")
		}
	})

	t.Run("bad requests are refused at submission", func(t *testing.T) {
		for _, tc := range []struct {
			kind   provisioning.Kind
			params string
		}{
			{provisioning.KindDates, `{"start":"2020-01-01T00:00:00Z"}`},
			{provisioning.KindVoicemail, `{"enabled":true,"language":"xx"}`},
			{provisioning.KindForwarding, `{"condition":"sometimes","number":"447700900999"}`},
			{provisioning.KindSIMSwap, `{"new_iccid":"1234"}`},
			{provisioning.KindActivate, `{}`},
		} {
			if _, err := e.svc.Submit(context.Background(), sub, tc.kind, json.RawMessage(tc.params), "test"); !errors.Is(err, provisioning.ErrInvalid) {
				t.Errorf("%s %s: err %v, want ErrInvalid", tc.kind, tc.params, err)
			}
		}
	})
}

// TestProvisioningRetriesTransientGatewayFailures runs against a gateway
// that fails 40% of requests transiently: every request still ends done.
func TestProvisioningRetriesTransientGatewayFailures(t *testing.T) {
	e := newEnv(t, 0, 0)
	sub := e.line(t, 2, "da")
	if err := e.hlr.SetFailureRate(0.4); err != nil {
		t.Fatal(err)
	}
	e.fastRetries(t)
	var ids []string
	for i, lang := range []string{"en", "he", "en", "he"} {
		ids = append(ids, e.submit(t, sub, provisioning.KindVoicemail, provisioning.VoicemailParams{Enabled: i%2 == 0, Language: lang}).ID)
	}
	for _, id := range ids {
		e.wait(t, id, provisioning.StateDone)
	}
	if ns, _ := e.hlr.Subscriber(msisdn(2)); ns.Voicemail.Enabled || ns.Voicemail.Language != "he" {
		t.Fatalf("voicemail %+v, want the last change (off, he)", ns.Voicemail)
	}
}

// TestProvisioningPermanentFailure: a line the network does not know fails
// for good with the gateway's reason, without retries.
func TestProvisioningPermanentFailure(t *testing.T) {
	e := newEnv(t, 0, 0)
	ctx := testenv.Context(t, time.Minute)
	h, _ := provisioning.NewActivationHasher([]byte("0123456789abcdef0123"))
	if _, err := e.store.ImportSIMs(ctx, []provisioning.SIMImportRow{{ICCID: iccid(3), IMSI: "234150000000003", ActivationCode: "CODE123456"}}, h); err != nil {
		t.Fatal(err)
	}
	plan, _ := e.store.CreatePlan(ctx, provisioning.Plan{Name: "p", APN: "a"})
	acct, _ := e.store.CreateAccount(ctx, "a")
	subr, _ := e.store.CreateSubscriber(ctx, provisioning.Subscriber{AccountID: acct, Name: "n", Email: "x@example.com", Language: "en"})
	sub, err := e.store.CreateSubscription(ctx, subr, plan, msisdn(3), iccid(3), time.Now().UTC().Truncate(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Never activated on the network: the gateway answers 404.
	r := e.submitAndWait(t, sub, provisioning.KindVoicemail, provisioning.VoicemailParams{Enabled: true, Language: "en"}, provisioning.StateFailed)
	if r.Attempts != 1 || r.LastError == "" {
		t.Fatalf("failed after %d attempts with %q; want 1 attempt and the gateway's reason", r.Attempts, r.LastError)
	}
}

// TestProvisioningRetriesSMSCFailures runs against an SMSC that answers 30%
// of submit_sm with a transient error (ESME_RTHROTTLED or ESME_RSYSERR): APN
// requests queued on one line all end done, in order, each SMS accepted once
// and receipted, and the notices of other requests still arrive. A number
// the SMSC refuses for good fails its request at the first attempt.
//
// A request gives up after provisioning.MaxAttempts (8) failed attempts,
// which at 30% happens to one request in 15,000; at 50% it would be one in
// 256, too flaky for several requests per run.
func TestProvisioningRetriesSMSCFailures(t *testing.T) {
	e := newEnv(t, 0, 0.3)
	e.fastRetries(t)
	// The refused number has a subscription of its own (sending it SMS
	// needs no network activation), so its request runs alongside.
	refused := e.submit(t, e.subscription(t, refusedLine, "en"), provisioning.KindAPNSMS, nil)
	const line = 4
	sub := e.line(t, line, "en") // English: the APN SMS is one part, one submit_sm per attempt

	// Each request waits for the one before it (about a second a hop: an
	// idle Asynq worker looks for tasks once a second), so keep them few.
	var apn []string
	for i := range 5 {
		apn = append(apn, e.submit(t, sub, provisioning.KindAPNSMS, nil).ID)
		if i == 1 {
			e.submit(t, sub, provisioning.KindVoicemail, provisioning.VoicemailParams{Enabled: true, Language: "en"})
		}
	}
	retried, ids := 0, map[string]bool{}
	var last provisioning.Request
	check := func(id string) {
		t.Helper()
		r := e.wait(t, id, provisioning.StateDone)
		if r.UpdatedAt.Before(last.UpdatedAt) {
			t.Errorf("request %s finished before the one queued ahead of it", id)
		}
		last = r
		if r.Attempts > 1 {
			retried++
			if !strings.Contains(r.LastError, "ESME_RTHROTTLED") && !strings.Contains(r.LastError, "ESME_RSYSERR") {
				t.Errorf("request %s took %d attempts, last error %q; want the SMSC's transient status", id, r.Attempts, r.LastError)
			}
		}
		if len(r.Messages) != 1 || r.Messages[0].MessageID == "" || ids[r.Messages[0].MessageID] {
			t.Fatalf("request %s recorded messages %+v; want one new message id", id, r.Messages)
		}
		ids[r.Messages[0].MessageID] = true
	}
	for _, id := range apn {
		check(id)
	}
	// In about one run in six the SMSC fails none of the five; add requests
	// until it has, so that every run covers a retry.
	for retried == 0 {
		if len(apn) == 25 {
			t.Fatalf("the SMSC failed none of %d APN submits", len(apn))
		}
		apn = append(apn, e.submit(t, sub, provisioning.KindAPNSMS, nil).ID)
		check(apn[len(apn)-1])
	}
	t.Logf("%d of %d APN requests needed more than one attempt", retried, len(apn))
	e.waitFor(t, func() bool {
		for _, id := range apn {
			r, err := e.store.Request(context.Background(), id)
			if err != nil || r.Messages[0].State != "DELIVRD" {
				return false
			}
		}
		return true
	}, "not every APN SMS has a DELIVRD receipt")
	if n := smsTo(e.smsc, msisdn(line), "APN: test.apn"); n != len(apn) {
		t.Errorf("the SMSC accepted %d APN messages, want %d: one per request", n, len(apn))
	}
	for _, text := range []string{"Your plan now starts on", "Your voicemail is on"} {
		e.waitFor(t, func() bool { return smsTo(e.smsc, msisdn(line), text) > 0 }, "no notice %q reached the SMSC", text)
	}

	t.Run("a refused number fails at once with the SMSC's reason", func(t *testing.T) {
		r := e.wait(t, refused.ID, provisioning.StateFailed)
		if r.Attempts != 1 || !strings.Contains(r.LastError, "ESME_RINVDSTADR") {
			t.Fatalf("failed after %d attempts with %q; want 1 attempt and ESME_RINVDSTADR", r.Attempts, r.LastError)
		}
		if n := smsTo(e.smsc, msisdn(refusedLine), ""); n != 0 {
			t.Fatalf("the SMSC accepted %d messages to the refused number", n)
		}
		// Its task is archived, for an operator to see why.
		insp := wasynq.NewInspector(e.redis)
		defer insp.Close()
		var task wasynq.TaskInfo
		e.waitFor(t, func() bool {
			tasks, err := insp.Archived(context.Background(), 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, ti := range tasks {
				if ti.RequestID == r.ID {
					task = ti
					return true
				}
			}
			return false
		}, "the task of request %s is not archived", r.ID)
		if !strings.Contains(task.LastError, "ESME_RINVDSTADR") || task.Retried != 0 {
			t.Fatalf("archived task %+v; want ESME_RINVDSTADR, never retried", task)
		}
	})
}
