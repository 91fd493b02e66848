// Package numbering checks the identifiers of mobile telephony: ICCIDs
// (ITU-T E.118, with their Luhn check digit), IMSIs (E.212) and MSISDNs
// (E.164). It is a tiny value package shared by the domains; it imports only
// the standard library.
package numbering

// ICCID length bounds (E.118 allows 19-20 digits; some issuers use 18).
const (
	MinICCIDDigits = 18
	MaxICCIDDigits = 20
)

// ICCIDProblem returns a stable reason code for an invalid ICCID, or "" when
// it is valid: missing_iccid, iccid_not_digits, iccid_length, iccid_luhn.
func ICCIDProblem(s string) string {
	switch {
	case s == "":
		return "missing_iccid"
	case !AllDigits(s):
		return "iccid_not_digits"
	case len(s) < MinICCIDDigits || len(s) > MaxICCIDDigits:
		return "iccid_length"
	case !LuhnValid(s):
		return "iccid_luhn"
	}
	return ""
}

// ValidIMSI reports whether s is 14 or 15 digits.
func ValidIMSI(s string) bool { return DigitsBetween(s, 14, 15) }

// ValidMSISDN reports whether s is an E.164 number as digits without '+':
// 1 to 15 digits, the first not 0.
func ValidMSISDN(s string) bool { return DigitsBetween(s, 1, 15) && s[0] != '0' }

// AllDigits reports whether s holds only ASCII digits (true for "").
func AllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i]-'0' > 9 {
			return false
		}
	}
	return true
}

// DigitsBetween reports whether s is lo to hi ASCII digits.
func DigitsBetween(s string, lo, hi int) bool {
	return len(s) >= lo && len(s) <= hi && AllDigits(s)
}

// LuhnValid reports whether digits is a non-empty string of ASCII digits
// whose last digit is the Luhn check digit of the others.
func LuhnValid(digits string) bool {
	if digits == "" {
		return false
	}
	sum, ok := luhnSum(digits, false)
	return ok && sum%10 == 0
}

// LuhnCheckDigit returns the ASCII Luhn check digit ('0'..'9') to append to
// partial, a string of ASCII digits. It returns 0 if partial holds a non-digit.
func LuhnCheckDigit(partial string) byte {
	sum, ok := luhnSum(partial, true)
	if !ok {
		return 0
	}
	return byte('0' + (10-sum%10)%10)
}

// luhnSum adds the digits of s from the right, doubling every second one;
// doubleFirst says whether the rightmost digit is doubled (true when the
// check digit is still to be appended).
func luhnSum(s string, doubleFirst bool) (int, bool) {
	sum, double := 0, doubleFirst
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i]) - '0'
		if d < 0 || d > 9 {
			return 0, false
		}
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum, true
}
