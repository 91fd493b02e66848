package postgres_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/provisioning"
)

func TestCreateAccountSubscriberPlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acc, err := e.store.CreateAccount(e.ctx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		run  func() error
		want error
	}{
		{"account without a name", func() error { _, err := e.store.CreateAccount(e.ctx, " "); return err }, provisioning.ErrInvalid},
		{"subscriber", func() error {
			_, err := e.store.CreateSubscriber(e.ctx, provisioning.Subscriber{AccountID: acc, Name: "A", Email: "a@example.com", Language: "en"})
			return err
		}, nil},
		{"subscriber without email", func() error {
			_, err := e.store.CreateSubscriber(e.ctx, provisioning.Subscriber{AccountID: acc, Name: "A"})
			return err
		}, nil},
		{"subscriber without a name", func() error {
			_, err := e.store.CreateSubscriber(e.ctx, provisioning.Subscriber{AccountID: acc, Language: "en"})
			return err
		}, provisioning.ErrInvalid},
		{"subscriber with a bad email", func() error {
			_, err := e.store.CreateSubscriber(e.ctx, provisioning.Subscriber{AccountID: acc, Name: "A", Email: "nope"})
			return err
		}, provisioning.ErrInvalid},
		{"subscriber of no account", func() error {
			_, err := e.store.CreateSubscriber(e.ctx, provisioning.Subscriber{AccountID: acc + 1000, Name: "A"})
			return err
		}, provisioning.ErrInvalid},
		{"plan without a name", func() error { _, err := e.store.CreatePlan(e.ctx, provisioning.Plan{APN: "x"}); return err }, provisioning.ErrInvalid},
		{"plan without an APN", func() error { _, err := e.store.CreatePlan(e.ctx, provisioning.Plan{Name: "x"}); return err }, provisioning.ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			wantErr(t, c.name, c.run(), c.want)
		})
	}
}

func TestCreatePlanUpserts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	p := l.plan
	p.APN, p.APNUsername, p.APNPassword = "new.apn", "", "other"
	id, err := e.store.CreatePlan(e.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if id != l.plan.ID {
		t.Errorf("CreatePlan of an existing name: id %d, want %d", id, l.plan.ID)
	}
	if d := cmp.Diff(p, e.subscription(t, l.id).Plan); d != "" {
		t.Errorf("plan (-want +got):\n%s", d)
	}
}

func TestCreateSubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	taken := e.line(t)
	for _, c := range []struct {
		name       string
		msisdn     string
		sim        func(t *testing.T) string // the card to use
		days       int                       // the start, in days from now
		subscriber func(customer) int64
		plan       func(customer) int64
		want       error
		status     provisioning.SubscriptionStatus
	}{
		{name: "starts today", days: 0, status: provisioning.StatusActive},
		{name: "started yesterday", days: -1, status: provisioning.StatusActive},
		{name: "starts tomorrow", days: 1, status: provisioning.StatusPending},
		{name: "unknown SIM", sim: func(*testing.T) string { return newICCID() }, want: provisioning.ErrSIMNotFound},
		{name: "SIM in use", sim: func(*testing.T) string { return taken.sim.ICCID }, want: provisioning.ErrSIMNotInStock},
		{name: "SIM reserved", sim: func(t *testing.T) string {
			m := e.sim(t)
			e.request(t, taken.id, provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: m.ICCID}, time.Time{})
			return m.ICCID
		}, want: provisioning.ErrSIMNotInStock},
		{name: "number in use", msisdn: taken.msisdn, want: provisioning.ErrConflict},
		{name: "bad number", msisdn: "0541234567", want: provisioning.ErrInvalid},
		{name: "no start", want: provisioning.ErrInvalid},
		{name: "unknown subscriber", subscriber: func(c customer) int64 { return c.subscriber.ID + 1000 }, want: provisioning.ErrInvalid},
		{name: "unknown plan", plan: func(c customer) int64 { return c.plan.ID + 1000 }, want: provisioning.ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cu := e.customer(t)
			iccid := ""
			if c.sim != nil {
				iccid = c.sim(t)
			} else {
				iccid = e.sim(t).ICCID
			}
			before, _ := e.store.SIM(e.ctx, iccid) // State "" for an unknown card
			msisdn := c.msisdn
			if msisdn == "" {
				msisdn = newMSISDN()
			}
			sub, plan := cu.subscriber.ID, cu.plan.ID
			if c.subscriber != nil {
				sub = c.subscriber(cu)
			}
			if c.plan != nil {
				plan = c.plan(cu)
			}
			called := time.Now()
			start := called.AddDate(0, 0, c.days)
			if c.name == "no start" {
				start = time.Time{}
			}
			id, err := e.store.CreateSubscription(e.ctx, sub, plan, msisdn, iccid, start)
			returned := time.Now()
			wantErr(t, "CreateSubscription", err, c.want)
			if c.want != nil {
				if after, _ := e.store.SIM(e.ctx, iccid); after.State != before.State {
					t.Errorf("SIM state %q after a failed CreateSubscription, want %q", after.State, before.State)
				}
				return
			}
			got := e.subscription(t, id)
			status := c.status
			if !day(returned).Equal(day(called)) && !day(start).After(day(returned)) && got.Status == provisioning.StatusActive {
				// The UTC day changed during the call: the database may
				// have judged the start by the new day, on which it has come.
				status = provisioning.StatusActive
			}
			if got.Status != status || !got.StartDate.Equal(day(start)) || got.MSISDN != msisdn || got.ICCID != iccid {
				t.Errorf("subscription %+v: want status %s, start %s, msisdn %s, iccid %s", got, status, day(start), msisdn, iccid)
			}
			if s := e.simState(t, iccid); s != provisioning.SIMActive {
				t.Errorf("SIM state %s, want active", s)
			}
		})
	}
}

func TestSubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	start := time.Now()

	got := e.subscription(t, l.id)
	want := provisioning.Subscription{
		ID:         l.id,
		Subscriber: l.subscriber,
		Plan:       l.plan,
		MSISDN:     l.msisdn,
		ICCID:      l.sim.ICCID,
		IMSI:       l.sim.IMSI,
		Status:     provisioning.StatusActive,
		StartDate:  day(start),
		Voicemail:  provisioning.VoicemailSettings{Enabled: false, Language: l.subscriber.Language},
		Forwarding: map[provisioning.ForwardingKind]string{},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("new subscription (-want +got):\n%s", d)
	}

	end := day(start).AddDate(0, 1, 0)
	r := e.request(t, l.id, provisioning.KindForwarding, nil, time.Time{})
	e.complete(t, r.ID, provisioning.Change{
		Voicemail:  &provisioning.VoicemailSettings{Enabled: true, Language: "en"},
		Forwarding: &provisioning.ForwardingParams{Condition: provisioning.ForwardBusy, Number: "972500000001"},
		Dates:      &provisioning.DatesParams{Start: day(start), End: &end},
	})
	want.Voicemail = provisioning.VoicemailSettings{Enabled: true, Language: "en"}
	want.Forwarding = map[provisioning.ForwardingKind]string{provisioning.ForwardBusy: "972500000001"}
	want.EndDate = &end
	want.DatesVersion = 1
	if d := cmp.Diff(want, e.subscription(t, l.id)); d != "" {
		t.Errorf("changed subscription (-want +got):\n%s", d)
	}
	byNumber, err := e.store.SubscriptionByMSISDN(e.ctx, l.msisdn)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, byNumber); d != "" {
		t.Errorf("SubscriptionByMSISDN (-want +got):\n%s", d)
	}

	_, err = e.store.Subscription(e.ctx, l.id+1000)
	wantErr(t, "Subscription of an unknown id", err, provisioning.ErrSubscriptionNotFound)
	_, err = e.store.SubscriptionByMSISDN(e.ctx, newMSISDN())
	wantErr(t, "SubscriptionByMSISDN of an unknown number", err, provisioning.ErrSubscriptionNotFound)
}

func TestEndedSubscriptionFreesNumber(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.line(t)
	r := e.request(t, l.id, provisioning.KindDeactivate, provisioning.ScheduleParams{}, time.Time{})
	e.start(t, r.ID)
	e.complete(t, r.ID, provisioning.Change{Status: provisioning.StatusEnded})

	if s := e.simState(t, l.sim.ICCID); s != provisioning.SIMRetired {
		t.Errorf("SIM of an ended subscription is %s, want retired", s)
	}
	_, err := e.store.SubscriptionByMSISDN(e.ctx, l.msisdn)
	wantErr(t, "SubscriptionByMSISDN of an ended line", err, provisioning.ErrSubscriptionNotFound)
	if got := e.subscription(t, l.id).Status; got != provisioning.StatusEnded {
		t.Errorf("status %s, want ended", got)
	}
	// The number can go on a new line.
	id, err := e.store.CreateSubscription(e.ctx, l.subscriber.ID, l.plan.ID, l.msisdn, e.sim(t).ICCID, time.Now())
	if err != nil {
		t.Fatalf("CreateSubscription with the ended line's number: %v", err)
	}
	if got, err := e.store.SubscriptionByMSISDN(e.ctx, l.msisdn); err != nil || got.ID != id {
		t.Errorf("SubscriptionByMSISDN = %d, %v; want %d", got.ID, err, id)
	}
}
