package postgres_test

import (
	"cmp"
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

// TestUpgradeCatalogueReadableByEarlierSimcore: in a rolling upgrade the
// raters, the balance API and rerate of the release before outgoing barring
// (fd3a664) load the catalogue that `plans import` of the new simcore
// stored. They refuse a field they do not know, and bar_outgoing was
// stored on every plan, "never" included: one import stopped all their
// rating ("field bar_outgoing not found in type rating.Plan") though the
// catalogue bars no outgoing calls. A plan that never bars them is stored
// without the field; one that does keeps it, and an earlier simcore refuses
// that catalogue, as it cannot apply it.
func TestUpgradeCatalogueReadableByEarlierSimcore(t *testing.T) {
	// The plan fields simcore fd3a664 reads.
	earlier := map[string]bool{"name": true, "apn": true, "apn_username": true, "apn_password": true,
		"period": true, "price_list": true, "allowances": true, "allowance_zones": true,
		"rounding": true, "alerts": true, "bar_data": true}
	tests := []struct {
		name        string
		barOutgoing string
		wantStored  bool // bar_outgoing in the stored document
	}{
		{"left out", "", false},
		{"never", rating.BarNever, false},
		{"balance exhausted", rating.BarBalanceExhausted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
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
			for i := range cat.Plans {
				cat.Plans[i].BarOutgoing = tt.barOutgoing
			}
			if _, err := store.ImportCatalogue(ctx, cat, "plans.yaml"); err != nil {
				t.Fatal(err)
			}
			var doc []byte
			if err := pool.QueryRow(ctx, "SELECT document FROM rating_catalogues ORDER BY version DESC LIMIT 1").Scan(&doc); err != nil {
				t.Fatal(err)
			}
			var stored struct {
				Plans []map[string]json.RawMessage `json:"plans"`
			}
			if err := json.Unmarshal(doc, &stored); err != nil {
				t.Fatal(err)
			}
			for _, p := range stored.Plans {
				for k := range p {
					if !earlier[k] && !(tt.wantStored && k == "bar_outgoing") {
						t.Errorf("plan %s stored with %q: a simcore from before it refuses the catalogue and rates nothing", p["name"], k)
					}
				}
				if _, ok := p["bar_outgoing"]; ok != tt.wantStored {
					t.Errorf("plan %s: bar_outgoing stored %v, want %v", p["name"], ok, tt.wantStored)
				}
			}
			got, _, err := store.Catalogue(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := cmp.Or(tt.barOutgoing, rating.BarNever)
			for _, p := range got.Plans {
				if p.BarOutgoing != want {
					t.Errorf("plan %s loads with bar_outgoing %q, want %q", p.Name, p.BarOutgoing, want)
				}
			}
		})
	}
}
