package metering

import (
	"errors"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/simcore/simcore/numbering"
)

// ErrInvalidRecord is matched (errors.Is) by every *ValidationError.
var ErrInvalidRecord = errors.New("invalid usage record")

// ValidationError says which field of a Record broke which rule.
type ValidationError struct {
	Field  string // snake_case field name, e.g. "iccid"
	Reason string // stable snake_case code, e.g. "iccid_luhn"
}

// Error returns "field: reason", e.g. "iccid: iccid_luhn".
func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Is reports whether target is ErrInvalidRecord.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidRecord }

// Limits applied by Validate.
const (
	MaxIDBytes    = 128       // RecordID and NodeID
	MaxTextBytes  = 128       // RAT, APN, PeerNumber, PGWAddress
	MaxFutureSkew = time.Hour // how far after now a StartTime may be
	// MaxRecordOctets bounds BytesUp and BytesDown each: 1 PiB, far above
	// any real session (a 10 Gbit/s bearer for a day moves about 100 TB),
	// and far below the 2^63 at which sums stop fitting signed 64 bits (a
	// RADIUS Gigawords garbled to 2^32-1 gives 2^64-1 octets).
	MaxRecordOctets = 1 << 50
	// MaxRecordDurationS bounds DurationS: 366 days, longer than any call
	// or partial record (a record that started within the default 90-day
	// window and has ended cannot be longer), and far below what a
	// wrapped or sign-lost 32-bit counter gives: -1 read as unsigned is
	// 2^32-1 s, 136 years, which rating would charge as a call of that
	// length; a negative int32 read as unsigned is 2^31 s or more.
	MaxRecordDurationS = 366 * 24 * 3600
)

// Validate checks r and returns nil or a *ValidationError naming the first
// field that breaks a rule. Its Reason is one of:
//
//	missing_record_id, record_id_too_long, node_id_too_long, invalid_text,
//	missing_type, type_invalid,
//	missing_iccid, iccid_not_digits, iccid_length, iccid_luhn,
//	imsi_invalid, msisdn_invalid, mcc_mnc_invalid,
//	missing_start_time, start_time_too_old, start_time_in_future,
//	rat_too_long, apn_too_long, peer_number_too_long, pgw_address_too_long,
//	duration_too_long, bytes_too_large.
//
// The StartTime window is [now-maxAge, now+MaxFutureSkew]; maxAge <= 0
// disables the lower bound and a zero now disables both. Validate does not
// allocate when r is valid.
func (r *Record) Validate(now time.Time, maxAge time.Duration) error {
	if r.RecordID == "" {
		return invalid("record_id", "missing_record_id")
	}
	if len(r.RecordID) > MaxIDBytes {
		return invalid("record_id", "record_id_too_long")
	}
	if !cleanText(r.RecordID) {
		return invalid("record_id", "invalid_text")
	}
	if len(r.NodeID) > MaxIDBytes {
		return invalid("node_id", "node_id_too_long")
	}
	if !cleanText(r.NodeID) {
		return invalid("node_id", "invalid_text")
	}
	switch r.Type {
	case 0:
		return invalid("type", "missing_type")
	case TypeData, TypeVoice, TypeSMS:
	default:
		return invalid("type", "type_invalid")
	}
	if reason := numbering.ICCIDProblem(r.ICCID); reason != "" {
		return invalid("iccid", reason)
	}
	if r.IMSI != "" && !numbering.ValidIMSI(r.IMSI) {
		return invalid("imsi", "imsi_invalid")
	}
	if r.MSISDN != "" && !numbering.ValidMSISDN(r.MSISDN) {
		return invalid("msisdn", "msisdn_invalid")
	}
	if r.MCCMNC != "" && !numbering.DigitsBetween(r.MCCMNC, 5, 6) {
		return invalid("mcc_mnc", "mcc_mnc_invalid")
	}
	if r.StartTime.IsZero() {
		return invalid("start_time", "missing_start_time")
	}
	if !now.IsZero() {
		if maxAge > 0 && r.StartTime.Before(now.Add(-maxAge)) {
			return invalid("start_time", "start_time_too_old")
		}
		if r.StartTime.After(now.Add(MaxFutureSkew)) {
			return invalid("start_time", "start_time_in_future")
		}
	}
	for _, f := range [...]struct {
		name, value, tooLong string
	}{
		{"rat", r.RAT, "rat_too_long"},
		{"apn", r.APN, "apn_too_long"},
		{"peer_number", r.PeerNumber, "peer_number_too_long"},
		{"pgw_address", r.PGWAddress, "pgw_address_too_long"},
	} {
		if len(f.value) > MaxTextBytes {
			return invalid(f.name, f.tooLong)
		}
		if !cleanText(f.value) {
			return invalid(f.name, "invalid_text")
		}
	}
	if r.DurationS > MaxRecordDurationS {
		return invalid("duration_s", "duration_too_long")
	}
	if r.BytesUp > MaxRecordOctets {
		return invalid("bytes_up", "bytes_too_large")
	}
	if r.BytesDown > MaxRecordOctets {
		return invalid("bytes_down", "bytes_too_large")
	}
	return nil
}

func invalid(field, reason string) error {
	return &ValidationError{Field: field, Reason: reason}
}

// cleanText reports whether s is valid UTF-8 without control characters.
func cleanText(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || unicode.IsControl(r) {
			return false
		}
		i += n
	}
	return true
}

// LuhnValid reports whether digits is a non-empty string of ASCII digits
// whose last digit is the Luhn check digit of the others.
func LuhnValid(digits string) bool { return numbering.LuhnValid(digits) }

// LuhnCheckDigit returns the ASCII Luhn check digit ('0'..'9') to append to
// partial, a string of ASCII digits. It returns 0 if partial holds a non-digit.
func LuhnCheckDigit(partial string) byte { return numbering.LuhnCheckDigit(partial) }
