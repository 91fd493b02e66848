package metering

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// UsageType says what kind of service a usage record meters.
type UsageType uint8

// The usage types. The zero value means "not set" and fails validation.
const (
	TypeData  UsageType = 1
	TypeVoice UsageType = 2
	TypeSMS   UsageType = 3
)

// ErrUnknownUsageType is returned by ParseUsageType for a name it does not know.
var ErrUnknownUsageType = errors.New("unknown usage type")

// String returns "data", "voice" or "sms", or "UsageType(n)" for other values.
func (t UsageType) String() string {
	switch t {
	case TypeData:
		return "data"
	case TypeVoice:
		return "voice"
	case TypeSMS:
		return "sms"
	}
	return "UsageType(" + strconv.Itoa(int(t)) + ")"
}

// ParseUsageType returns the usage type named s ("data", "voice" or "sms",
// in any case). Any other name returns an error wrapping ErrUnknownUsageType.
// Vendor names (GPRS, MOC, SMS-MO, ...) are mapped by the feed's parser, not here.
func ParseUsageType(s string) (UsageType, error) {
	switch {
	case strings.EqualFold(s, "data"):
		return TypeData, nil
	case strings.EqualFold(s, "voice"):
		return TypeVoice, nil
	case strings.EqualFold(s, "sms"):
		return TypeSMS, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownUsageType, s)
}

// Record is one usage record as delivered by a network feed.
//
// Its identity is (NodeID, RecordID): the same pair delivered again is a
// duplicate whatever its content (see Key).
//
// PGWAddress and ChargingID name the bearer a data record belongs to: the
// partial records of one bearer (TS 32.298) share them, and the session
// list shows them as one session. PGWAddress is empty when the feed does
// not name the bearer; ChargingID is then ignored.
type Record struct {
	Type         UsageType
	ICCID        string
	IMSI         string
	MSISDN       string
	StartTime    time.Time // UTC
	DurationS    uint32
	BytesUp      uint64
	BytesDown    uint64
	MCCMNC       string // "23415" or "310260" (5 or 6 digits)
	RAT          string
	APN          string
	PeerNumber   string
	NodeID       string
	RecordID     string
	Sequence     uint32 // partial record sequence; 0 = absent (single, complete record)
	ClosingCause uint8
	ChargingID   uint32 // 3GPP chargingID of the bearer
	PGWAddress   string // gateway that assigned ChargingID (S-GW for SGW-CDRs); "" = no bearer
}
