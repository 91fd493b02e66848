package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/rating"
)

// demoCatalogue is the tariff `simcore run --demo` loads.
//
//go:embed demo/catalogue.yaml
var demoCatalogue []byte

// seedDemoCatalogue stores the demo catalogue unless the newest stored one
// is the same, and returns the version in force.
func seedDemoCatalogue(ctx context.Context, rs *ratingStack, prov *provStack) (int, error) {
	cat, err := rating.ParseCatalogue(bytes.NewReader(demoCatalogue))
	if err != nil {
		return 0, err
	}
	v, _, err := storeCatalogue(ctx, rs, prov, cat, "demo")
	return v, err
}

func sameCatalogue(a, b *rating.Catalogue) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && bytes.Equal(ja, jb)
}

// seedDemoCredits puts 5.00 EUR, a plan purchase, on every pay-as-you-go
// demo line, once (the idempotency key is the line's number). A line found
// by its number may have moved to another card in an earlier demo's SIM
// swap; the credit follows the line.
func seedDemoCredits(ctx context.Context, rs *ratingStack, prov *provStack) error {
	for i := 1; i < demoSubscriptions; i += 2 {
		sub, err := prov.store.SubscriptionByMSISDN(ctx, demoMSISDN(i))
		if errors.Is(err, provisioning.ErrSubscriptionNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if _, _, err := rs.accounts.AddCredit(ctx, sub.ICCID, rating.CreditPlanPurchase, "5.00", "EUR", "demo-plan-purchase-"+demoMSISDN(i), "demo"); err != nil && !errors.Is(err, rating.ErrIdempotencyKey) {
			return fmt.Errorf("%s: %w", sub.ICCID, err)
		}
	}
	return nil
}
