package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/provisioning"
	ppg "github.com/simcore/simcore/provisioning/postgres"
)

// addTestLine stores demo card n (demoICCID(n), demoIMSI(n)) in the
// provisioning database at url, and a subscription with msisdn to it on a
// new plan named plan, starting now. It returns the subscription's id and
// the card's ICCID.
func addTestLine(ctx context.Context, t *testing.T, url string, n int, msisdn, plan string) (int64, string) {
	t.Helper()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := ppg.New(pool)
	h, _ := provisioning.NewActivationHasher([]byte("00112233445566778899aabbccddeeff"))
	sim := demoICCID(n)
	if _, err := store.ImportSIMs(ctx, []provisioning.SIMImportRow{{ICCID: sim, IMSI: demoIMSI(n), ActivationCode: fmt.Sprintf("CODE%04d", n)}}, h); err != nil {
		t.Fatal(err)
	}
	planID, err := store.CreatePlan(ctx, provisioning.Plan{Name: plan, APN: "travel.simcore"})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := store.CreateAccount(ctx, "test "+msisdn)
	if err != nil {
		t.Fatal(err)
	}
	subr, err := store.CreateSubscriber(ctx, provisioning.Subscriber{AccountID: acct, Name: "Ann", Language: "en"})
	if err != nil {
		t.Fatal(err)
	}
	subID, err := store.CreateSubscription(ctx, subr, planID, msisdn, sim, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return subID, sim
}
