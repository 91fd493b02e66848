package rating

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func testCatalogue(t *testing.T) *Catalogue {
	t.Helper()
	f, err := os.Open("testdata/catalogue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := ParseCatalogue(f)
	if err != nil {
		t.Fatalf("testdata/catalogue.yaml: %v", err)
	}
	return c
}

func TestParseCatalogue(t *testing.T) {
	t.Parallel()
	c := testCatalogue(t)
	p, ok := c.Plan("uk-monthly")
	if !ok {
		t.Fatal("plan uk-monthly missing")
	}
	if p.Currency() != "GBP" || p.DataAllowance() != 10_000_000 || p.Rounding.Block() != 1000 {
		t.Errorf("uk-monthly: currency %s, data %d, block %d", p.Currency(), p.DataAllowance(), p.Rounding.Block())
	}
	for net, want := range map[string]string{"23415": "home", "26201": "eu", "310260": "world", "99999": "rest"} {
		if got := c.ZoneOf(net); got != want {
			t.Errorf("ZoneOf(%s) = %q, want %q", net, got, want)
		}
	}
	c.DefaultZone = ""
	if got := c.ZoneOf("99999"); got != "" {
		t.Errorf("without a default zone ZoneOf(99999) = %q, want not allowed", got)
	}
}

func TestCatalogueErrors(t *testing.T) {
	t.Parallel()
	base := `
zones:
  - {name: home, networks: ["23415"]}
price_lists:
  - name: uk
    currency: GBP
    rates:
      home: {data_per_mb: "0.01", voice_per_minute: "0.05", sms: "0.04"}
plans:
  - name: p
    apn: internet
    period: month
    price_list: uk
`
	tests := []struct {
		name, doc string
		want      []string // every fragment must appear in the error
	}{
		{"empty", "", []string{"empty"}},
		{"unknown field", base + "    colour: red\n", []string{"colour"}},
		{"bad network", strings.Replace(base, `"23415"`, `"2341"`, 1), []string{"zones[0] (home).networks[0]", "not an MCC-MNC"}},
		{"network twice", strings.Replace(base, `networks: ["23415"]}`, `networks: ["23415"]}
  - {name: eu, networks: ["23415"]}`, 1), []string{"already in zone home"}},
		{"unknown currency", strings.Replace(base, "GBP", "GBX", 1), []string{"price_lists[0] (uk).currency", "GBX"}},
		{"rate with too many decimals", strings.Replace(base, `"0.01"`, `"0.0000001"`, 1), []string{"rates.home.data_per_mb", "more than 6 decimals"}},
		{"rate for unknown zone", strings.Replace(base, "      home: {", "      mars: {", 1), []string{"rates.mars", `zone "mars" is not defined`}},
		{"bad period", strings.Replace(base, "period: month", "period: weekly", 1), []string{"plans[0] (p).period", "weekly"}},
		{"unknown price list", strings.Replace(base, "price_list: uk", "price_list: us", 1), []string{"plans[0] (p).price_list", `"us" is not defined`}},
		{"allowance without zones", base + "    allowances: {data: 1GB}\n", []string{"allowance_zones", "must say which zones"}},
		{"bad size", base + "    allowances: {data: 1GBs}\n    allowance_zones: [home]\n", []string{"allowances.data", "not a size"}},
		{"bad voice rounding", base + "    rounding: {voice: per_hour}\n", []string{"rounding", "per_hour"}},
		{"percent out of range", base + "    alerts: {allowance_percent: [0, 101]}\n", []string{"allowance_percent[0]", "allowance_percent[1]"}},
		{"bar without data allowance", base + "    bar_data: data_allowance_exhausted\n", []string{"bar_data", "no data allowance"}},
		{"bar outgoing on an allowance", base + "    bar_outgoing: data_allowance_exhausted\n", []string{"plans[0] (p).bar_outgoing", "want never or balance_exhausted"}},
		{"bar outgoing misspelt", base + "    bar_outgoing: balance-exhausted\n", []string{"plans[0] (p).bar_outgoing", "balance-exhausted"}},
		{"bar outgoing not a string", base + "    bar_outgoing: true\n", []string{"bar_outgoing"}},
		{"negative balance alert", base + "    alerts: {balance_below: \"-1\"}\n", []string{"balance_below", "above zero"}},
		{"bad default zone", base + "default_zone: nowhere\n", []string{"default_zone", "nowhere"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseCatalogue(strings.NewReader(tc.doc))
			if !errors.Is(err, ErrCatalogue) {
				t.Fatalf("err = %v, want ErrCatalogue", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, err := ParseCatalogue(strings.NewReader(base)); err != nil {
		t.Fatalf("the base document is valid, got %v", err)
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint64{"1": 1, "100KB": 100_000, "1KiB": 1024, "10GB": 10_000_000_000, "2 MiB": 2 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1.5GB", "-1", "10 gigs", "99999999999TB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

// TestParseCatalogueJSON: the same catalogue as JSON, unknown keys refused.
func TestParseCatalogueJSON(t *testing.T) {
	t.Parallel()
	doc := `{"zones":[{"name":"home","networks":["23415"]}],
		"price_lists":[{"name":"uk","currency":"GBP","rates":{"home":{"data_per_mb":"0.01","voice_per_minute":"0.05","sms":"0.04"}}}],
		"plans":[{"name":"Monthly 10","apn":"internet","period":"month","price_list":"uk",
		          "allowances":{"data":"10GB","voice_minutes":100},"allowance_zones":["home"]}]}`
	c, err := ParseCatalogue(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := c.Plan("Monthly 10")
	if !ok || p.DataAllowance() != 10_000_000_000 || p.BarData != BarNever || p.BarOutgoing != BarNever {
		t.Fatalf("plan %+v", p)
	}
	if _, err := ParseCatalogue(strings.NewReader(strings.Replace(doc, `"apn"`, `"apm"`, 1))); !errors.Is(err, ErrCatalogue) || !strings.Contains(err.Error(), "apm") {
		t.Fatalf("unknown key: %v", err)
	}
}
