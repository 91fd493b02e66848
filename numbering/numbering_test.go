package numbering

import "testing"

func TestICCIDProblem(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"valid 19 digits", "8944100000000000075", ""},
		{"valid 20 digits", "89441000000000000752", ""},
		{"empty", "", "missing_iccid"},
		{"letters", "89441000000000000A5", "iccid_not_digits"},
		{"too short", "89441000000000007", "iccid_length"},
		{"too long", "894410000000000000757", "iccid_length"},
		{"wrong check digit", "8944100000000000076", "iccid_luhn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ICCIDProblem(tt.in); got != tt.want {
				t.Fatalf("ICCIDProblem(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLuhnCheckDigitMakesValid(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"7992739871", "894410000000000007", "0", ""} {
		c := LuhnCheckDigit(p)
		if c < '0' || c > '9' || !LuhnValid(p+string(c)) {
			t.Fatalf("LuhnCheckDigit(%q) = %q does not make a valid number", p, c)
		}
	}
	if LuhnValid("79927398710") || !LuhnValid("79927398713") {
		t.Fatal("the textbook Luhn example fails")
	}
	if LuhnCheckDigit("12a") != 0 {
		t.Fatal("non-digit accepted")
	}
}

func TestIMSIAndMSISDN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in         string
		imsi, msis bool
	}{
		{"234150000001234", true, true},
		{"23415000000123", true, true},
		{"447700900123", false, true},
		{"0447700900123", false, false},
		{"1234567890123456", false, false},
		{"", false, false},
		{"44770090012x", false, false},
	}
	for _, tt := range tests {
		if ValidIMSI(tt.in) != tt.imsi || ValidMSISDN(tt.in) != tt.msis {
			t.Errorf("%q: IMSI %v MSISDN %v, want %v %v", tt.in, ValidIMSI(tt.in), ValidMSISDN(tt.in), tt.imsi, tt.msis)
		}
	}
}
