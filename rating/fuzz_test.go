package rating

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParseCatalogue: whatever the file holds, parsing answers a catalogue
// or an error wrapping ErrCatalogue, never a panic; a valid catalogue
// rates without panicking either.
func FuzzParseCatalogue(f *testing.F) {
	doc, err := os.ReadFile("testdata/catalogue.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(doc))
	f.Add(`{"zones":[{"name":"a","networks":["23415"]}],"price_lists":[],"plans":[]}`)
	f.Add("zones: [{name: a}]\nplans: [{name: p, period: 0d}]")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCatalogue(strings.NewReader(s))
		if err != nil {
			if !errors.Is(err, ErrCatalogue) {
				t.Fatalf("error %v does not wrap ErrCatalogue", err)
			}
			return
		}
		for i := range c.Plans {
			p := &c.Plans[i]
			per, ok := p.PeriodAt(date("2026-01-31"), nil, date("2026-03-01"))
			if !ok {
				continue
			}
			_ = c.Rate(p, per, []Usage{{Day: per.Start, MCCMNC: "23415", Type: 1, Records: 1, Quantity: 1 << 40}})
		}
	})
}
