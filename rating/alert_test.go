package rating

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/metering"
)

func TestAlertsMonthly(t *testing.T) {
	t.Parallel()
	c := testCatalogue(t)
	p, _ := c.Plan("uk-monthly")
	per := Period{date("2026-11-01"), date("2026-12-01")}
	at := func(dataBytes, voiceSeconds uint64) PeriodCharges {
		return c.Rate(p, per, []Usage{
			{Day: per.Start, MCCMNC: "23415", Type: metering.TypeData, Records: 1, Quantity: dataBytes},
			{Day: per.Start, MCCMNC: "23415", Type: metering.TypeVoice, Records: 1, Quantity: voiceSeconds},
		})
	}
	zero := Money{0, "GBP"}
	keys := func(as []Alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Key+"/"+a.Notice)
		}
		return out
	}
	tests := []struct {
		name       string
		data, vsec uint64
		want       []string
		bar        bool
	}{
		{"below every threshold", 7_999_999, 0, nil, false},
		{"data at 80%", 8_000_000, 0, []string{"data_80/usage_threshold"}, false},
		// At 100% the plan bars data, and the barring's message replaces
		// the 100% alert's.
		{"data exhausted", 10_000_000, 0, []string{"data_80/usage_threshold", "data_100/"}, true},
		{"data beyond", 12_000_000, 600, []string{"data_80/usage_threshold", "data_100/", "voice_80/usage_threshold", "voice_100/usage_threshold"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := at(tc.data, tc.vsec)
			if diff := cmp.Diff(tc.want, keys(p.Crossed(zero, cur))); diff != "" {
				t.Errorf("alerts (-want +got):\n%s", diff)
			}
			bar, reason, notice := p.DataBarring(zero, cur)
			if bar != tc.bar {
				t.Errorf("bar = %v (%s), want %v", bar, reason, tc.bar)
			}
			if bar && notice != "data_barred" || !bar && notice != "data_resumed" {
				t.Errorf("notice %q for bar=%v", notice, bar)
			}
		})
	}
}

func TestAlertsBalance(t *testing.T) {
	t.Parallel()
	c := testCatalogue(t)
	p, _ := c.Plan("travel-payg")
	cur := PeriodCharges{Currency: "EUR"}
	tests := []struct {
		balance int64
		want    []Alert
		bar     bool
	}{
		{500, nil, false},
		{200, nil, false},
		{199, []Alert{{Key: "balance_below", Notice: "balance_low", Data: map[string]any{"Balance": "1.99 EUR"}}}, false},
		{0, []Alert{{Key: "balance_exhausted"}}, true},
		{-35, []Alert{{Key: "balance_exhausted"}}, true},
	}
	for _, tc := range tests {
		got := p.Crossed(Money{tc.balance, "EUR"}, cur)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("balance %d: alerts (-want +got):\n%s", tc.balance, diff)
		}
		if bar, _, _ := p.DataBarring(Money{tc.balance, "EUR"}, cur); bar != tc.bar {
			t.Errorf("balance %d: bar = %v", tc.balance, bar)
		}
	}
}

// TestOutgoingBarring: bar_outgoing bars at a balance of zero or less, the
// balance_exhausted alert then leaves the message to the barring notice, and
// a plan without the rule never bars outgoing.
func TestOutgoingBarring(t *testing.T) {
	t.Parallel()
	c := testCatalogue(t)
	cur := PeriodCharges{Currency: "EUR"}
	tests := []struct {
		name       string
		plan       string
		balance    int64
		wantBar    bool
		wantNotice string
		wantAlerts []Alert
	}{
		{"calls only, money left", "payg-calls", 1, false, "outgoing_resumed", nil},
		{"calls only, at zero", "payg-calls", 0, true, "outgoing_barred", []Alert{{Key: "balance_exhausted"}}},
		{"calls only, below zero", "payg-calls", -120, true, "outgoing_barred", []Alert{{Key: "balance_exhausted"}}},
		{"both, below zero", "travel-payg-all", -1, true, "outgoing_barred", []Alert{{Key: "balance_exhausted"}}},
		{"data only plan", "travel-payg", -1, false, "outgoing_resumed", []Alert{{Key: "balance_exhausted"}}},
		{"monthly plan", "uk-monthly", -1, false, "outgoing_resumed", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, ok := c.Plan(tt.plan)
			if !ok {
				t.Fatalf("no plan %s", tt.plan)
			}
			bar, reason, notice := p.OutgoingBarring(Money{tt.balance, "EUR"})
			if bar != tt.wantBar || notice != tt.wantNotice || (bar && reason != BarBalanceExhausted) {
				t.Errorf("OutgoingBarring = %v, %q, %q; want %v, %q", bar, reason, notice, tt.wantBar, tt.wantNotice)
			}
			if diff := cmp.Diff(tt.wantAlerts, p.Crossed(Money{tt.balance, "EUR"}, cur)); diff != "" {
				t.Errorf("alerts (-want +got):\n%s", diff)
			}
		})
	}
}
