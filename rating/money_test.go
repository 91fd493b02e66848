package rating

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseMoney(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, cur string
		want          int64
		wantErr       bool
	}{
		{"whole", "12", "EUR", 1200, false},
		{"cents", "12.05", "EUR", 1205, false},
		{"one decimal", "0.5", "GBP", 50, false},
		{"negative", "-3.40", "USD", -340, false},
		{"leading dot", ".75", "EUR", 75, false},
		{"yen", "300", "JPY", 300, false},
		{"too many decimals", "1.005", "EUR", 0, true},
		{"yen decimals", "1.5", "JPY", 0, true},
		{"unknown currency", "1", "XXX", 0, true},
		{"letters", "1e3", "EUR", 0, true},
		{"trailing dot", "1.", "EUR", 0, true},
		{"empty", "", "EUR", 0, true},
		{"huge", "99999999999999999", "EUR", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMoney(tc.in, tc.cur)
			if tc.wantErr {
				if !errors.Is(err, ErrMoney) {
					t.Fatalf("ParseMoney(%q) = %v, %v; want ErrMoney", tc.in, got, err)
				}
				return
			}
			if err != nil || got.Minor != tc.want || got.Currency != tc.cur {
				t.Fatalf("ParseMoney(%q) = %+v, %v; want %d %s", tc.in, got, err, tc.want, tc.cur)
			}
		})
	}
}

func TestMoneyFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		m    Money
		want string
	}{
		{Money{1250, "EUR"}, "12.50 EUR"},
		{Money{5, "GBP"}, "0.05 GBP"},
		{Money{-40, "GBP"}, "-0.40 GBP"},
		{Money{0, "USD"}, "0.00 USD"},
		{Money{300, "JPY"}, "300 JPY"},
	} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.m, got, tc.want)
		}
	}
	b, _ := json.Marshal(Money{1250, "EUR"})
	if string(b) != `{"amount":"12.50","currency":"EUR","minor":1250}` {
		t.Errorf("JSON = %s", b)
	}
	if r, _ := ParseRate("0.0150"); r.String() != "0.015" || r != 15000 {
		t.Errorf("rate 0.0150 = %d %q", r, r.String())
	}
}

func TestCharge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		quantity uint64
		rate     string
		per      uint64
		exp      int
		want     int64
	}{
		// 1.5 MB at 0.01 per MB = 0.015 → 2 cents (a started cent is charged).
		{"data rounds up", 1_500_000, "0.01", 1_000_000, 2, 2},
		{"data exact", 3_000_000, "0.01", 1_000_000, 2, 3},
		// 90 s at 0.05 per minute = 0.075 → 8 cents.
		{"voice", 90, "0.05", 60, 2, 8},
		{"sms", 3, "0.04", 1, 2, 12},
		{"zero quantity", 0, "0.04", 1, 2, 0},
		{"free", 10, "0", 1, 2, 0},
		// 1 TB at 0.5 per MB = 500,000.00: no overflow in the product.
		{"large", 1_000_000_000_000, "0.5", 1_000_000, 2, 50_000_000},
		{"yen", 61, "10", 60, 0, 11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRate(tc.rate)
			if err != nil {
				t.Fatal(err)
			}
			if got := charge(tc.quantity, r, tc.per, tc.exp); got != tc.want {
				t.Errorf("charge(%d, %s, %d) = %d, want %d", tc.quantity, tc.rate, tc.per, got, tc.want)
			}
		})
	}
}
