package smpp

import "strings"

// Type of number and numbering plan (SMPP 3.4 §5.2.5, §5.2.6).
const (
	tonInternational = 0x01
	tonAlphanumeric  = 0x05
	npiE164          = 0x01
	npiUnknown       = 0x00
)

// destinationAddress is an E.164 number, digits only, no '+'.
func destinationAddress(to string) (address, error) {
	if !isDigits(to) || len(to) < 3 || len(to) > 15 {
		return address{}, permanentf("destination %q is not an E.164 number (3 to 15 digits)", redact(to))
	}
	return address{ton: tonInternational, npi: npiE164, addr: to}, nil
}

// sourceAddress is an E.164 number, or an alphanumeric sender id of up to
// 11 printable ASCII characters (letters, digits, space and . - _ & +).
func sourceAddress(from string) (address, error) {
	if isDigits(from) && len(from) >= 3 && len(from) <= 15 {
		return address{ton: tonInternational, npi: npiE164, addr: from}, nil
	}
	if strings.HasPrefix(from, "+") {
		return address{}, permanentf("sender %q: write an E.164 number without '+'", from)
	}
	if from == "" || len(from) > 11 {
		return address{}, permanentf("sender %q is neither an E.164 number nor 1 to 11 characters", from)
	}
	for i := 0; i < len(from); i++ {
		c := from[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == ' ' || c == '.' || c == '-' || c == '_' || c == '&' || c == '+'
		if !ok {
			return address{}, permanentf("sender %q has a character outside letters, digits and \" .-_&+\"", from)
		}
	}
	return address{ton: tonAlphanumeric, npi: npiUnknown, addr: from}, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// redact keeps a phone number out of errors and logs but for its last
// three characters.
func redact(s string) string {
	if len(s) <= 3 {
		return "***"
	}
	return "***" + s[len(s)-3:]
}
