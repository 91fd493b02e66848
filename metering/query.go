package metering

import (
	"errors"
	"fmt"
	"time"

	"github.com/simcore/simcore/numbering"
)

// ErrInvalidQuery marks a usage query that cannot be answered as asked.
var ErrInvalidQuery = errors.New("invalid usage query")

// Granularity is how a usage series is bucketed.
type Granularity uint8

// Granularities: GranTotal is one bucket for the whole range.
const (
	GranTotal Granularity = iota
	GranHour
	GranDay
	GranMonth
)

// ParseGranularity reads "", "hour", "day" or "month".
func ParseGranularity(s string) (Granularity, error) {
	switch s {
	case "", "total":
		return GranTotal, nil
	case "hour":
		return GranHour, nil
	case "day":
		return GranDay, nil
	case "month":
		return GranMonth, nil
	}
	return 0, fmt.Errorf("%w: granularity %q: want hour, day or month", ErrInvalidQuery, s)
}

func (g Granularity) String() string {
	return [...]string{"total", "hour", "day", "month"}[g]
}

// MaxQueryRange bounds a usage query; hourly series beyond it would be huge.
const MaxQueryRange = 3 * 366 * 24 * time.Hour

// UsageQuery asks for one SIM's usage in [From, To).
type UsageQuery struct {
	ICCID string
	From  time.Time
	To    time.Time
	By    Granularity
}

// The times a query may name: what the store's DateTime columns hold
// (ClickHouse: 1970 to 2106-02-07). A time outside would wrap around in the
// query and silently match nothing.
var (
	MinQueryTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxQueryTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

func validateSpan(from, to time.Time) error {
	for _, t := range []time.Time{from, to} {
		if t.Before(MinQueryTime) || t.After(MaxQueryTime) {
			return fmt.Errorf("%w: %s is outside %s to %s", ErrInvalidQuery, t.Format(time.RFC3339),
				MinQueryTime.Format(time.DateOnly), MaxQueryTime.Format(time.DateOnly))
		}
	}
	return nil
}

// Validate checks the query. Errors wrap ErrInvalidQuery.
func (q UsageQuery) Validate() error {
	if err := validateICCID(q.ICCID); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	if err := validateSpan(q.From, q.To); err != nil {
		return err
	}
	if !q.From.Before(q.To) {
		return fmt.Errorf("%w: from %s is not before to %s", ErrInvalidQuery, q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	if q.To.Sub(q.From) > MaxQueryRange {
		return fmt.Errorf("%w: range longer than %d days", ErrInvalidQuery, int(MaxQueryRange.Hours()/24))
	}
	if q.By == GranHour && q.To.Sub(q.From) > 93*24*time.Hour {
		return fmt.Errorf("%w: hourly series are limited to 93 days", ErrInvalidQuery)
	}
	if q.By > GranMonth {
		return fmt.Errorf("%w: unknown granularity %d", ErrInvalidQuery, q.By)
	}
	return nil
}

// DataUsage is data traffic: octets each way and sessions started.
type DataUsage struct {
	BytesUp   uint64 `json:"bytes_up"`
	BytesDown uint64 `json:"bytes_down"`
	Sessions  uint64 `json:"sessions"`
}

// VoiceUsage is call time and calls started.
type VoiceUsage struct {
	Seconds uint64 `json:"seconds"`
	Calls   uint64 `json:"calls"`
}

// SMSUsage counts messages.
type SMSUsage struct {
	Count uint64 `json:"count"`
}

// Totals is usage of every type over a period.
type Totals struct {
	Data  DataUsage  `json:"data"`
	Voice VoiceUsage `json:"voice"`
	SMS   SMSUsage   `json:"sms"`
}

// Add adds o to t.
func (t *Totals) Add(o Totals) {
	t.Data.BytesUp += o.Data.BytesUp
	t.Data.BytesDown += o.Data.BytesDown
	t.Data.Sessions += o.Data.Sessions
	t.Voice.Seconds += o.Voice.Seconds
	t.Voice.Calls += o.Voice.Calls
	t.SMS.Count += o.SMS.Count
}

// Bucket is usage in [From, To).
type Bucket struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	Totals
}

// Usage answers a UsageQuery: the totals over the range, and with a
// granularity the non-empty buckets in time order (an empty array when
// there are none; no series without a granularity).
type Usage struct {
	ICCID string    `json:"iccid"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Totals
	Series []Bucket `json:"series,omitzero"`
}

// SessionQuery asks for one SIM's sessions whose records start in
// [From, To), newest first.
type SessionQuery struct {
	ICCID  string
	From   time.Time
	To     time.Time
	Limit  int    // 1..1000; 0 means 50
	Cursor string // from the previous page's Next; "" for the first page
}

// Validate checks the query. Errors wrap ErrInvalidQuery.
func (q *SessionQuery) Validate() error {
	if err := validateICCID(q.ICCID); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	if err := validateSpan(q.From, q.To); err != nil {
		return err
	}
	if !q.From.Before(q.To) {
		return fmt.Errorf("%w: from is not before to", ErrInvalidQuery)
	}
	if q.Limit == 0 {
		q.Limit = 50
	}
	if q.Limit < 1 || q.Limit > 1000 {
		return fmt.Errorf("%w: limit %d: want 1 to 1000", ErrInvalidQuery, q.Limit)
	}
	return nil
}

// Session is usage as a subscriber sees it: a data session, a call or a
// message. The partial records of one bearer (same PGWAddress and
// ChargingID, TS 32.298) make one session; a record that names no bearer is
// a session of its own.
//
// StartTime is the first record's start; DurationS, BytesUp and BytesDown
// are summed over the records; MCCMNC, RAT, APN, PeerNumber and RecordID are
// the first record's; ClosingCause is the last record's (why the session,
// or its latest part, closed); Sequence is the highest recordSequenceNumber
// seen, so Parts below Sequence means parts are missing or not yet in.
type Session struct {
	Type         string    `json:"type"`
	StartTime    time.Time `json:"start_time"`
	DurationS    uint32    `json:"duration_s"`
	BytesUp      uint64    `json:"bytes_up"`
	BytesDown    uint64    `json:"bytes_down"`
	MCCMNC       string    `json:"mcc_mnc,omitempty"`
	RAT          string    `json:"rat,omitempty"`
	APN          string    `json:"apn,omitempty"`
	PeerNumber   string    `json:"peer_number,omitempty"`
	Sequence     uint32    `json:"sequence,omitempty"`
	ClosingCause uint8     `json:"closing_cause,omitempty"`
	RecordID     string    `json:"record_id"`
	Parts        uint32    `json:"parts"` // records in the session (within the query's range)
	ChargingID   uint32    `json:"charging_id,omitempty"`
	PGWAddress   string    `json:"pgw_address,omitempty"`
}

// SessionPage is one page of sessions; Next is empty on the last page.
type SessionPage struct {
	Sessions []Session `json:"sessions"`
	Next     string    `json:"next,omitempty"`
}

// ValidateICCID checks an ICCID: 18 to 20 digits with a correct Luhn check
// digit. The error is a *ValidationError.
func ValidateICCID(iccid string) error { return validateICCID(iccid) }

func validateICCID(s string) error {
	if p := numbering.ICCIDProblem(s); p != "" {
		return invalid("iccid", p)
	}
	return nil
}
