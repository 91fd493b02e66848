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

// seedDemoCatalogue stores the demo catalogue when no catalogue is stored
// yet, and returns the version in force. A stored one is kept, whatever it
// is: it may be a tariff the operator imported (`simcore plans import`)
// since the last start, which the demo's would otherwise replace as a newer
// version, silently rating every later batch at the demo's prices again.
// To load an edited demo/catalogue.yaml, import it with `plans import`.
func seedDemoCatalogue(ctx context.Context, rs *ratingStack, prov *provStack) (int, error) {
	if _, v, err := rs.store.Catalogue(ctx); err == nil {
		return v, nil
	} else if !errors.Is(err, rating.ErrNoCatalogue) {
		return 0, err
	}
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
