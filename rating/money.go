package rating

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// ErrMoney is wrapped by errors about amounts, rates and currencies.
var ErrMoney = errors.New("invalid amount")

// currencyExponents are the ISO 4217 minor-unit exponents of the currencies
// simcore accepts. A currency outside the list is refused rather than
// guessed at.
var currencyExponents = map[string]int{
	"AUD": 2, "CAD": 2, "CHF": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2,
	"HUF": 2, "ILS": 2, "JPY": 0, "KRW": 0, "NOK": 2, "NZD": 2, "PLN": 2,
	"RON": 2, "RUB": 2, "SEK": 2, "THB": 2, "TRY": 2, "USD": 2, "ZAR": 2,
}

// CurrencyExponent returns the number of minor-unit digits of code (2 for
// EUR, 0 for JPY); false for a currency simcore does not know.
func CurrencyExponent(code string) (int, bool) {
	e, ok := currencyExponents[code]
	return e, ok
}

// Money is an amount in a currency's minor units (cents), never a float.
type Money struct {
	Minor    int64
	Currency string
}

// String prints m as "12.50 EUR" ("-0.40 GBP", "300 JPY").
func (m Money) String() string { return m.Decimal() + " " + m.Currency }

// Decimal prints m's amount in major units without the currency: "12.50".
func (m Money) Decimal() string { return formatFixed(m.Minor, currencyExponents[m.Currency]) }

// MarshalJSON writes {"amount":"12.50","currency":"EUR","minor":1250}: the
// decimal for people, the integer for programs.
func (m Money) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Amount   string `json:"amount"`
		Currency string `json:"currency"`
		Minor    int64  `json:"minor"`
	}{m.Decimal(), m.Currency, m.Minor})
}

// ParseMoney reads a decimal amount such as "12.5" or "-3.00" in currency.
// More decimals than the currency has is an error, never a rounding.
func ParseMoney(s, currency string) (Money, error) {
	exp, ok := currencyExponents[currency]
	if !ok {
		return Money{}, fmt.Errorf("%w: unknown currency %q", ErrMoney, currency)
	}
	v, err := parseDecimal(s, exp)
	if err != nil {
		return Money{}, err
	}
	return Money{Minor: v, Currency: currency}, nil
}

// RateScale is how many decimals a rate may have: rates are kept in
// millionths of the currency's major unit, so a data price of 0.000123 EUR
// per MB is exact.
const RateScale = 6

// Rate is a price per unit in millionths of the currency's major unit.
type Rate int64

// ParseRate reads a non-negative decimal price with at most six decimals.
func ParseRate(s string) (Rate, error) {
	v, err := parseDecimal(s, RateScale)
	if err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, fmt.Errorf("%w: %q is negative", ErrMoney, s)
	}
	return Rate(v), nil
}

// String prints r as a decimal with trailing zeros trimmed: "0.05".
func (r Rate) String() string {
	s := formatFixed(int64(r), RateScale)
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}

// formatFixed prints v / 10^exp with exactly exp decimals.
func formatFixed(v int64, exp int) string {
	neg := v < 0
	u := uint64(v)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u, 10)
	if exp > 0 {
		if len(s) <= exp {
			s = strings.Repeat("0", exp-len(s)+1) + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// parseDecimal reads s as a fixed-point number with at most scale decimals
// and returns it times 10^scale.
func parseDecimal(s string, scale int) (int64, error) {
	orig := s
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrMoney)
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" && frac == "" || !digits(whole) || !digits(frac) || (dot && frac == "") {
		return 0, fmt.Errorf("%w: %q is not a decimal number", ErrMoney, orig)
	}
	if len(frac) > scale {
		return 0, fmt.Errorf("%w: %q has more than %d decimals", ErrMoney, orig, scale)
	}
	frac += strings.Repeat("0", scale-len(frac))
	if whole == "" {
		whole = "0"
	}
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || len(whole) > 12 {
		return 0, fmt.Errorf("%w: %q is too large", ErrMoney, orig)
	}
	if neg {
		v = -v
	}
	return v, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// charge returns quantity × rate / per in the currency's minor units,
// rounded up: a started minor unit is charged, as operators do, once per
// charge line (never per record, so rounding cannot pile up).
func charge(quantity uint64, rate Rate, per uint64, exp int) int64 {
	if quantity == 0 || rate == 0 {
		return 0
	}
	num := new(big.Int).Mul(new(big.Int).SetUint64(quantity), big.NewInt(int64(rate)))
	// rate is in 10^-6 major units; minor units are 10^-exp.
	den := new(big.Int).Mul(new(big.Int).SetUint64(per), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(RateScale-exp)), nil))
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 1<<63 - 1
	}
	return q.Int64()
}
