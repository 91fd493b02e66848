package rating

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/metering"
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestRounding(t *testing.T) {
	t.Parallel()
	r := Rounding{DataBlock: "100KB", Voice: VoicePerSecondAfterFirstMinute}
	if err := r.validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		r       Rounding
		typ     metering.UsageType
		bytes   uint64
		seconds uint32
		want    uint64
	}{
		{"data block started", r, metering.TypeData, 100_001, 0, 200_000},
		{"data block exact", r, metering.TypeData, 100_000, 0, 100_000},
		{"data empty session", r, metering.TypeData, 0, 0, 0},
		{"voice first minute", r, metering.TypeVoice, 0, 7, 60},
		{"voice per second after", r, metering.TypeVoice, 0, 61, 61},
		{"unanswered call", r, metering.TypeVoice, 0, 0, 0},
		{"per minute", Rounding{Voice: VoicePerMinute, block: 1}, metering.TypeVoice, 0, 61, 120},
		{"per second", Rounding{Voice: VoicePerSecond, block: 1}, metering.TypeVoice, 0, 61, 61},
		{"bytes", Rounding{block: 1}, metering.TypeData, 12345, 0, 12345},
		{"sms", r, metering.TypeSMS, 0, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Quantity(tc.typ, tc.bytes, tc.seconds); got != tc.want {
				t.Errorf("Quantity = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPeriods(t *testing.T) {
	t.Parallel()
	c := testCatalogue(t)
	monthly, _ := c.Plan("uk-monthly")
	travel, _ := c.Plan("travel-payg")
	end := date("2026-12-10")
	tests := []struct {
		name   string
		plan   *Plan
		start  time.Time
		end    *time.Time
		at     time.Time
		want   Period
		wantOK bool
	}{
		{"first month starts on the start date", monthly, date("2026-10-15"), nil, date("2026-10-20"), Period{date("2026-10-15"), date("2026-11-01")}, true},
		{"calendar month", monthly, date("2026-10-15"), nil, date("2026-11-30").Add(23 * time.Hour), Period{date("2026-11-01"), date("2026-12-01")}, true},
		{"last second of a month", monthly, date("2026-01-01"), nil, date("2026-02-01").Add(-time.Second), Period{date("2026-01-01"), date("2026-02-01")}, true},
		{"last month ends on the end date", monthly, date("2026-10-15"), &end, date("2026-12-09"), Period{date("2026-12-01"), date("2026-12-10")}, true},
		{"after the end", monthly, date("2026-10-15"), &end, date("2026-12-10"), Period{}, false},
		{"before the start", monthly, date("2026-10-15"), nil, date("2026-10-14"), Period{}, false},
		{"validity first", travel, date("2026-11-05"), nil, date("2026-11-05"), Period{date("2026-11-05"), date("2026-12-05")}, true},
		{"validity renews", travel, date("2026-11-05"), nil, date("2026-12-05"), Period{date("2026-12-05"), date("2027-01-04")}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.plan.PeriodAt(tc.start, tc.end, tc.at)
			if ok != tc.wantOK || got != tc.want {
				t.Errorf("PeriodAt = %v %v, want %v %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
	got := monthly.PeriodsBetween(date("2026-10-15"), nil, date("2026-09-01"), date("2026-12-02"))
	want := []Period{{date("2026-10-15"), date("2026-11-01")}, {date("2026-11-01"), date("2026-12-01")}, {date("2026-12-01"), date("2027-01-01")}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PeriodsBetween (-want +got):\n%s", diff)
	}
}

func TestRateMonthly(t *testing.T) {
	t.Parallel()
	c := testCatalogue(t)
	p, _ := c.Plan("uk-monthly")
	per := Period{date("2026-11-01"), date("2026-12-01")}
	usage := []Usage{
		// Data: 6 MB at home, 7 MB in the EU: the 10 MB allowance takes
		// home first, then 4 MB of the EU; 3 MB of EU data is charged at
		// 0.02/MB = 0.06.
		{Day: date("2026-11-02"), MCCMNC: "23415", Type: metering.TypeData, Records: 3, Quantity: 6_000_000},
		{Day: date("2026-11-03"), MCCMNC: "26201", Type: metering.TypeData, Records: 2, Quantity: 7_000_000},
		// World data is never in the allowance: 1 MB at 0.50.
		{Day: date("2026-11-03"), MCCMNC: "310260", Type: metering.TypeData, Records: 1, Quantity: 1_000_000},
		// Voice: 12 minutes at home, 2 over the 10 included: 0.10.
		{Day: date("2026-11-04"), MCCMNC: "23410", Type: metering.TypeVoice, Records: 4, Quantity: 720},
		// An unknown network goes to the default zone "rest", which the
		// price list does not price: flagged, not charged.
		{Day: date("2026-11-05"), MCCMNC: "99999", Type: metering.TypeSMS, Records: 2, Quantity: 2},
		// Outside the period: ignored.
		{Day: date("2026-10-31"), MCCMNC: "23415", Type: metering.TypeData, Records: 1, Quantity: 5_000_000},
	}
	got := c.Rate(p, per, usage)
	want := PeriodCharges{Period: per, Currency: "GBP", Lines: []Line{
		{Zone: "home", Type: "data", Records: 3, Used: 6_000_000, Included: 6_000_000},
		{Zone: "eu", Type: "data", Records: 2, Used: 7_000_000, Included: 4_000_000, Billable: 3_000_000, Amount: 6},
		{Zone: "world", Type: "data", Records: 1, Used: 1_000_000, Billable: 1_000_000, Amount: 50},
		{Zone: "home", Type: "voice", Records: 4, Used: 720, Included: 600, Billable: 120, Amount: 10},
		{Zone: "rest", Type: "sms", Records: 2, Used: 2, NotAllowed: true},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Rate (-want +got):\n%s", diff)
	}
	if got.Total().Minor != 66 || got.Included(metering.TypeData) != 10_000_000 {
		t.Errorf("total %v, data included %d", got.Total(), got.Included(metering.TypeData))
	}
}

// TestRateOrderIndependent: charges depend on the usage, not on the order
// it arrived or how it was split into rows — what makes re-rating safe.
func TestRateOrderIndependent(t *testing.T) {
	t.Parallel()
	c := testCatalogue(t)
	p, _ := c.Plan("uk-monthly")
	per := Period{date("2026-11-01"), date("2026-12-01")}
	rng := rand.New(rand.NewPCG(1, 2))
	nets := []string{"23415", "26201", "310260", "99999"}
	var usage []Usage
	for range 200 {
		usage = append(usage, Usage{
			Day:      per.Start.AddDate(0, 0, rng.IntN(30)),
			MCCMNC:   nets[rng.IntN(len(nets))],
			Type:     metering.UsageType(1 + rng.IntN(3)),
			Records:  1,
			Quantity: uint64(rng.IntN(300_000)),
		})
	}
	want := c.Rate(p, per, usage)
	for range 20 {
		rng.Shuffle(len(usage), func(i, j int) { usage[i], usage[j] = usage[j], usage[i] })
		if diff := cmp.Diff(want, c.Rate(p, per, usage)); diff != "" {
			t.Fatalf("shuffled usage rates differently:\n%s", diff)
		}
	}
}

func TestRateNoDefaultZone(t *testing.T) {
	t.Parallel()
	c := testCatalogue(t)
	c.DefaultZone = ""
	p, _ := c.Plan("travel-payg")
	per := Period{date("2026-11-05"), date("2026-12-05")}
	got := c.Rate(p, per, []Usage{{Day: date("2026-11-06"), MCCMNC: "99999", Type: metering.TypeData, Records: 1, Quantity: 100_000}})
	want := []Line{{Zone: "", Type: "data", Records: 1, Used: 100_000, NotAllowed: true}}
	if diff := cmp.Diff(want, got.Lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
