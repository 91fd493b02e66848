package postgres_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/rating"
)

// TestUpgradeCatalogueStoredBeforeBounds: a catalogue imported before the
// bounds on allowances (c8e29ca) with an 'unlimited' data allowance of
// 2^62 bytes, and a voice allowance over a billion minutes, was valid then
// and is the version in force after an upgrade. The rater, the balance API
// and rerate load it on every call; refusing it stopped all rating until
// an operator imported a new catalogue. It loads, with the allowances read
// as the bounds (still far beyond any period's usage).
func TestUpgradeCatalogueStoredBeforeBounds(t *testing.T) {
	store, pool, ctx := newStore(t)
	f, err := os.Open("../testdata/catalogue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cat, err := rating.ParseCatalogue(f)
	if err != nil {
		t.Fatal(err)
	}
	// What the older simcore stored (json.Marshal of the parsed catalogue).
	cat.Plans[0].Allowances.Data = "4194304TiB" // 2^62 bytes
	cat.Plans[0].Allowances.VoiceMinutes = 300_000_000_000_000_000
	doc, err := json.Marshal(cat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO rating_catalogues (document, source) VALUES ($1, 'plans.yaml')", doc); err != nil {
		t.Fatal(err)
	}
	got, v, err := store.Catalogue(ctx)
	if err != nil {
		t.Fatalf("catalogue stored by an earlier simcore no longer loads, so nothing is rated: %v", err)
	}
	p, _ := got.Plan(cat.Plans[0].Name)
	if v != 1 || p.Allowance(metering.TypeData) != rating.MaxDataAllowance || p.Allowance(metering.TypeVoice) != rating.MaxCountAllowance*60 {
		t.Fatalf("version %d, data allowance %d, voice %d s", v, p.Allowance(metering.TypeData), p.Allowance(metering.TypeVoice))
	}
}
