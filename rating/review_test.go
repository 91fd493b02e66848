package rating

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/provisioning"
)

// Tests from a review of the catalogue: each failed before its fix.

const reviewBase = `
zones:
  - {name: home, networks: ["23415"]}
  - {name: eu, networks: ["26201"]}
price_lists:
  - name: uk
    currency: GBP
    rates:
      home: {data_per_mb: "0.01", voice_per_minute: "0.05", sms: "0.04"}
      eu: {data_per_mb: "0.01", voice_per_minute: "0.05", sms: "0.04"}
plans:
  - name: p
    apn: internet
    period: month
    price_list: uk
`

// TestCatalogueRefusesAbsurdNumbers: a rate of 999999999999.99 per SMS (its
// charges saturated at int64 and a period's total wrapped negative), a
// voice allowance whose seconds wrapped to 44, and a data allowance of 2^62
// bytes ("unlimited", whose percent check wrapped) are refused at import,
// naming their place; the bounds themselves are accepted.
func TestCatalogueRefusesAbsurdNumbers(t *testing.T) {
	for _, tc := range []struct {
		name, doc, place string
	}{
		{"rate", strings.ReplaceAll(reviewBase, `sms: "0.04"`, `sms: "999999999999.99"`), ".sms"},
		{"voice allowance", reviewBase + "    allowances: {voice_minutes: 307445734561825861}\n    allowance_zones: [home]\n", "allowances.voice_minutes"},
		{"data allowance", reviewBase + "    allowances: {data: 4194304TiB}\n    allowance_zones: [home]\n", "allowances.data"},
		{"sms allowance", reviewBase + "    allowances: {sms: 1000000001}\n    allowance_zones: [home]\n", "allowances.sms"},
	} {
		_, err := ParseCatalogue(strings.NewReader(tc.doc))
		if !errors.Is(err, ErrCatalogue) || !strings.Contains(err.Error(), tc.place) {
			t.Errorf("%s: %v, want ErrCatalogue naming %s", tc.name, err, tc.place)
		}
	}
	ok := strings.ReplaceAll(reviewBase, `sms: "0.04"`, `sms: "10000"`) +
		"    allowances: {data: 1024TiB, voice_minutes: 1000000000, sms: 1000000000}\n    allowance_zones: [home]\n"
	if _, err := ParseCatalogue(strings.NewReader(ok)); err != nil {
		t.Errorf("the bounds themselves: %v", err)
	}
}

// TestAllowancePercentAtTheBound: 1 KB used of a 1 PiB allowance crosses no
// threshold; 100% of it crosses 100 (the comparison is 128-bit).
func TestAllowancePercentAtTheBound(t *testing.T) {
	doc := reviewBase + "    allowances: {data: 1024TiB}\n    allowance_zones: [home]\n    alerts: {allowance_percent: [50, 100]}\n"
	c, err := ParseCatalogue(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Plan("p")
	per := Period{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	small := c.Rate(p, per, []Usage{{Day: per.Start, MCCMNC: "23415", Type: metering.TypeData, Records: 1, Quantity: 1000}})
	if got := p.Crossed(Money{0, "GBP"}, small); len(got) != 0 {
		t.Errorf("1 KB used of 1 PiB fires %+v", got)
	}
	full := c.Rate(p, per, []Usage{{Day: per.Start, MCCMNC: "23415", Type: metering.TypeData, Records: 1, Quantity: MaxDataAllowance}})
	if got := p.Crossed(Money{0, "GBP"}, full); len(got) != 2 {
		t.Errorf("all of 1 PiB used fires %+v, want the 50%% and 100%% alerts", got)
	}
	if !lessProduct(1, 100, 100, 2) || lessProduct(1<<62, 100, 100, 1<<62) || !lessProduct(1<<62, 99, 100, 1<<62) {
		t.Error("lessProduct is wrong where a 64-bit product would wrap")
	}
}

// TestSecondYAMLDocumentRefused: a catalogue file is one YAML document; a
// second one after --- was ignored, errors and all.
func TestSecondYAMLDocumentRefused(t *testing.T) {
	doc := reviewBase + "---\nzones: [{name: home, networks: [\"2341\"]}]\nplans: nonsense\n"
	if _, err := ParseCatalogue(strings.NewReader(doc)); !errors.Is(err, ErrCatalogue) {
		t.Fatalf("a file with a second YAML document: %v, want ErrCatalogue", err)
	}
}

// TestBalanceExhaustedNoticeWithoutBar: on a plan that never bars data, the
// exhausted-balance alert's SMS does not say data is paused (it used the
// barring's text, balance_exhausted); it asks for a top-up.
func TestBalanceExhaustedNoticeWithoutBar(t *testing.T) {
	doc := strings.Replace(reviewBase, "    price_list: uk\n", "    price_list: uk\n    alerts: {balance_exhausted: true}\n    bar_data: never\n", 1)
	c, err := ParseCatalogue(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Plan("p")
	owed := Money{Minor: -150, Currency: "GBP"}
	if bar, _, _ := p.DataBarring(owed, PeriodCharges{Currency: "GBP"}); bar {
		t.Fatal("bar_data: never bars")
	}
	alerts := p.Crossed(owed, PeriodCharges{Currency: "GBP"})
	if len(alerts) != 1 || alerts[0].Notice == "" {
		t.Fatalf("alerts %+v, want the exhausted balance with a notice", alerts)
	}
	for _, lang := range []string{"en", "da", "he", "ru"} {
		sms, err := provisioning.RenderSMS(provisioning.Notification{Key: alerts[0].Notice, Language: lang, Data: alerts[0].Data})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(sms, "paused") || strings.Contains(sms, "pause") || strings.Contains(sms, "приостановлен") || strings.Contains(sms, "הושהתה") {
			t.Errorf("%s: %q says data is paused on a plan that never bars", lang, sms)
		}
	}
}
