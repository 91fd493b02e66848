package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/simcore/simcore/provisioning"
)

// Demo provisioning: the first demoSubscriptions demo SIMs carry
// subscriptions (MSISDN 447700900000+i), the rest stay in stock for swaps.
const (
	demoSubscriptions = 40
	demoPlan          = "Travel 5 GB" // even-numbered demo lines
	demoPAYGPlan      = "Travel PAYG" // odd-numbered ones, with 5.00 EUR on them
)

func demoIMSI(i int) string   { return fmt.Sprintf("23415%010d", i) }
func demoMSISDN(i int) string { return fmt.Sprintf("4477009%05d", i) }

var demoLanguages = []string{"en", "he", "da", "ru"}

// seedDemo makes the demo inventory, plan and subscriptions, once: it is
// safe to call at every start.
func seedDemo(ctx context.Context, p *provStack, h *provisioning.ActivationHasher) error {
	rows := make([]provisioning.SIMImportRow, demoSIMs)
	for i := range rows {
		rows[i] = provisioning.SIMImportRow{ICCID: demoICCID(i), IMSI: demoIMSI(i), ActivationCode: fmt.Sprintf("DEMO%06d", i)}
	}
	if _, err := p.store.ImportSIMs(ctx, rows, h); err != nil {
		return err
	}
	planID, err := p.store.CreatePlan(ctx, provisioning.Plan{Name: demoPlan, APN: "travel.simcore", APNUsername: "", APNPassword: ""})
	if err != nil {
		return err
	}
	paygID, err := p.store.CreatePlan(ctx, provisioning.Plan{Name: demoPAYGPlan, APN: "travel.simcore"})
	if err != nil {
		return err
	}
	var account int64
	for i := range demoSubscriptions {
		if _, err := p.store.SubscriptionByMSISDN(ctx, demoMSISDN(i)); err == nil {
			continue
		} else if !errors.Is(err, provisioning.ErrSubscriptionNotFound) {
			return err
		}
		if account == 0 {
			if account, err = p.store.CreateAccount(ctx, "Demo MVNO"); err != nil {
				return err
			}
		}
		lang := demoLanguages[i%len(demoLanguages)]
		subID, err := p.store.CreateSubscriber(ctx, provisioning.Subscriber{AccountID: account, Name: fmt.Sprintf("Demo subscriber %d", i), Email: fmt.Sprintf("demo%d@example.com", i), Language: lang})
		if err != nil {
			return err
		}
		plan := planID
		if i%2 == 1 {
			plan = paygID
		}
		if _, err := p.store.CreateSubscription(ctx, subID, plan, demoMSISDN(i), demoICCID(i), time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -7)); err != nil {
			return err
		}
	}
	return nil
}

// demoProvisioning submits a random change to a random demo subscription
// every interval, as subscribers and back-office would.
type demoProvisioning struct {
	p        *provStack
	every    time.Duration
	log      *slog.Logger
	nextSIM  int
	rng      *rand.Rand
	printOut func(string)
}

func (d *demoProvisioning) run(ctx context.Context) error {
	t := time.NewTicker(d.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := d.submitOne(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("demo provisioning", "err", err)
		}
	}
}

func (d *demoProvisioning) submitOne(ctx context.Context) error {
	i := d.rng.IntN(demoSubscriptions)
	sub, err := d.p.store.SubscriptionByMSISDN(ctx, demoMSISDN(i))
	if err != nil {
		return err
	}
	var (
		kind   provisioning.Kind
		params any = struct{}{}
	)
	switch d.rng.IntN(6) {
	case 0:
		kind, params = provisioning.KindVoicemail, provisioning.VoicemailParams{Enabled: d.rng.IntN(2) == 0, Language: []string{"en", "he"}[d.rng.IntN(2)]}
	case 1:
		kind, params = provisioning.KindForwarding, provisioning.ForwardingParams{Condition: provisioning.ForwardingKinds[d.rng.IntN(4)], Number: demoMSISDN((i + 1 + d.rng.IntN(demoSubscriptions-1)) % demoSubscriptions)} // another line's
	case 2:
		kind, params = provisioning.KindForwarding, provisioning.ForwardingParams{Condition: provisioning.ForwardBusy}
	case 3:
		kind = provisioning.KindAPNSMS
	case 4:
		if sub.Status == provisioning.StatusSuspended {
			kind = provisioning.KindResume
		} else {
			kind = provisioning.KindSuspend
		}
	default:
		// A swap to the next demo SIM still in stock.
		for ; d.nextSIM < demoSIMs; d.nextSIM++ {
			sim, err := d.p.store.SIM(ctx, demoICCID(d.nextSIM))
			if err == nil && sim.State == provisioning.SIMInStock {
				break
			}
		}
		if d.nextSIM >= demoSIMs {
			kind = provisioning.KindAPNSMS
			break
		}
		kind, params = provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: demoICCID(d.nextSIM)}
		d.nextSIM++
	}
	b, _ := json.Marshal(params)
	r, err := d.p.svc.Submit(ctx, sub.ID, kind, b, "demo")
	if err != nil {
		return err
	}
	d.log.Info("demo provisioning request", "kind", kind, "request", r.ID)
	return nil
}

// seedNetwork gives a fresh simulator the demo lines as the database has
// them (the simulator keeps nothing across restarts; a real network does),
// rating's data bars included: rating does not send a bar it thinks is on.
func seedNetwork(ctx context.Context, p *provStack) error {
	gw := p.svc.Gateway
	for i := range demoSubscriptions {
		sub, err := p.store.SubscriptionByMSISDN(ctx, demoMSISDN(i))
		if err != nil {
			return err
		}
		key := "seed:" + sub.MSISDN + ":" + sub.ICCID
		if err := gw.CreateSubscriber(ctx, key, sub.MSISDN, sub.IMSI, sub.ICCID); err != nil && !errors.Is(err, provisioning.ErrPermanent) {
			return err
		}
		if err := gw.SetVoicemail(ctx, key+":vm", sub.MSISDN, sub.Voicemail); err != nil {
			return err
		}
		for cond, num := range sub.Forwarding {
			if err := gw.SetForwarding(ctx, key+":fw:"+string(cond), sub.MSISDN, cond, num); err != nil {
				return err
			}
		}
		if err := gw.SetBarring(ctx, key+":bar", sub.MSISDN, sub.Barring()); err != nil {
			return err
		}
	}
	return nil
}
