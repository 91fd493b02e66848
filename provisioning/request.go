package provisioning

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/simcore/simcore/numbering"
)

// Kind is what a provisioning request asks for.
type Kind string

// Request kinds. Activate and deactivate are scheduled by a dates request;
// bar_data, unbar_data, bar_outgoing and unbar_outgoing come from rating
// (Service.SubmitSystem).
const (
	KindSIMSwap    Kind = "sim_swap"
	KindVoicemail  Kind = "voicemail"
	KindForwarding Kind = "forwarding"
	KindAPNSMS     Kind = "apn_sms"
	KindDates      Kind = "dates"
	KindSuspend    Kind = "suspend"
	KindResume     Kind = "resume"
	KindActivate   Kind = "activate"
	KindDeactivate Kind = "deactivate"
	KindBarData    Kind = "bar_data"
	KindUnbarData  Kind = "unbar_data"
	// KindBarOutgoing bars outgoing calls and SMS (emergency calls stay
	// allowed); incoming calls and SMS keep working.
	KindBarOutgoing   Kind = "bar_outgoing"
	KindUnbarOutgoing Kind = "unbar_outgoing"
)

// State is where a request is. It moves pending → in_progress → done or
// failed, and back to pending between attempts.
type State string

// Request states.
const (
	StatePending    State = "pending"
	StateInProgress State = "in_progress"
	StateDone       State = "done"
	StateFailed     State = "failed"
)

// Terminal reports whether the request will not change any more.
func (s State) Terminal() bool { return s == StateDone || s == StateFailed }

// Request is one asked-for change, its progress and its outcome.
type Request struct {
	ID             string          `json:"id"`
	SubscriptionID int64           `json:"subscription_id"`
	Kind           Kind            `json:"kind"`
	Params         json.RawMessage `json:"params"`
	State          State           `json:"state"`
	Attempts       int             `json:"attempts"`
	LastError      string          `json:"last_error,omitempty"`
	Outcome        json.RawMessage `json:"outcome,omitempty"`
	RequestedBy    string          `json:"requested_by"`
	NotBefore      time.Time       `json:"not_before"` // scheduled requests run at or after it
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	// Messages are the SMS parts sent for the request, its notices' included,
	// with their delivery state as the SMSC reports it.
	Messages []MessageState `json:"messages,omitempty"`
}

// MessageState is one submitted SMS part and its latest receipt.
type MessageState struct {
	MessageID string    `json:"message_id"`
	State     string    `json:"state"` // SUBMITTED until a receipt says otherwise
	UpdatedAt time.Time `json:"updated_at"`
	// Notice is the notice (Notice.ID) the part was sent for; empty for
	// the request's own SMS (the APN settings).
	Notice string `json:"notice,omitempty"`
}

// SIMSwapParams moves the subscription's number to a new SIM from inventory.
type SIMSwapParams struct {
	NewICCID string `json:"new_iccid"`
}

// VoicemailParams turns voicemail on or off and sets its language.
type VoicemailParams struct {
	Enabled  bool   `json:"enabled"`
	Language string `json:"language"`
}

// ForwardingParams sets a condition to a number, or cancels it (Number "").
type ForwardingParams struct {
	Condition ForwardingKind `json:"condition"`
	Number    string         `json:"number"`
}

// DatesParams sets the plan's start and end dates (UTC days). A nil End
// means open-ended.
type DatesParams struct {
	Start time.Time  `json:"start"`
	End   *time.Time `json:"end,omitempty"`
}

// ScheduleParams is the payload of activate and deactivate: the dates
// version they were scheduled for.
type ScheduleParams struct {
	DatesVersion int `json:"dates_version"`
}

// BarringParams is the payload of bar_data, unbar_data, bar_outgoing and
// unbar_outgoing.
type BarringParams struct {
	Reason string `json:"reason"`           // required, e.g. "balance_exhausted", "data_allowance_exhausted", "topup", "new_period"
	Notice string `json:"notice,omitempty"` // notification key sent to the subscriber by SMS when the change is done; "" sends none
}

// maxReasonLength bounds BarringParams.Reason, in characters.
const maxReasonLength = 64

// VoicemailLanguageCheck says whether a voicemail language code is offered;
// the list is data (see notify.go), passed in so rules stay testable.
type VoicemailLanguageCheck func(code string) bool

// ValidateParams decodes and checks p for kind, at time now. Errors wrap
// ErrInvalid (an *InputError naming the field).
func ValidateParams(kind Kind, p json.RawMessage, now time.Time, vmLang VoicemailLanguageCheck) error {
	strict := func(v any) error {
		if len(p) == 0 {
			p = json.RawMessage("{}")
		}
		if err := json.Unmarshal(p, v); err != nil {
			return inputErr("params", "%v", err)
		}
		return nil
	}
	switch kind {
	case KindSIMSwap:
		var s SIMSwapParams
		if err := strict(&s); err != nil {
			return err
		}
		if pr := numbering.ICCIDProblem(s.NewICCID); pr != "" {
			return inputErr("new_iccid", "%s", pr)
		}
	case KindVoicemail:
		var v VoicemailParams
		if err := strict(&v); err != nil {
			return err
		}
		if v.Language == "" || (vmLang != nil && !vmLang(v.Language)) {
			return inputErr("language", "%q is not an offered voicemail language", v.Language)
		}
	case KindForwarding:
		var f ForwardingParams
		if err := strict(&f); err != nil {
			return err
		}
		known := false
		for _, k := range ForwardingKinds {
			known = known || k == f.Condition
		}
		if !known {
			return inputErr("condition", "want one of %v", ForwardingKinds)
		}
		if f.Number != "" && !numbering.ValidMSISDN(f.Number) {
			return inputErr("number", "want an E.164 number as digits")
		}
	case KindDates:
		var d DatesParams
		if err := strict(&d); err != nil {
			return err
		}
		today := now.UTC().Truncate(24 * time.Hour)
		if d.Start.IsZero() {
			return inputErr("start", "required")
		}
		if d.Start.Before(today) {
			return inputErr("start", "%s is in the past", d.Start.Format(time.DateOnly))
		}
		// Dates are UTC days (the subscription's date columns): an end
		// later in the day of the start is no end after it.
		if d.End != nil && !d.End.UTC().Truncate(24*time.Hour).After(d.Start.UTC().Truncate(24*time.Hour)) {
			return inputErr("end", "must be a later day than start")
		}
	case KindAPNSMS, KindSuspend, KindResume:
		if len(p) > 0 && string(p) != "{}" && string(p) != "null" {
			return inputErr("params", "%s takes no parameters", kind)
		}
	case KindActivate, KindDeactivate:
		var s ScheduleParams
		return strict(&s)
	case KindBarData, KindUnbarData, KindBarOutgoing, KindUnbarOutgoing:
		return validateBarring(p)
	default:
		return inputErr("kind", "unknown kind %q", kind)
	}
	return nil
}

// UserKinds are the kinds operators and subscribers may ask for; activate
// and deactivate only come from a dates request, the barring kinds only
// from rating (SystemKinds).
var UserKinds = []Kind{KindSIMSwap, KindVoicemail, KindForwarding, KindAPNSMS, KindDates, KindSuspend, KindResume}

// SystemKinds are the kinds only simcore itself submits
// (Service.SubmitSystem).
var SystemKinds = []Kind{KindBarData, KindUnbarData, KindBarOutgoing, KindUnbarOutgoing}

// IsUserKind reports whether k may be submitted directly.
func IsUserKind(k Kind) bool {
	for _, u := range UserKinds {
		if u == k {
			return true
		}
	}
	return false
}

// validateBarring checks the params of the barring kinds (bar_data,
// unbar_data, bar_outgoing, unbar_outgoing). Unlike
// the operators' kinds, unknown fields are refused: the callers are code, and
// a misspelt "notice" would otherwise silently send no SMS.
func validateBarring(p json.RawMessage) error {
	if len(p) == 0 {
		return inputErr("reason", "required")
	}
	var d BarringParams
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return inputErr("params", "%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return inputErr("params", "data after the JSON object")
	}
	switch n := utf8.RuneCountInString(d.Reason); {
	case strings.TrimSpace(d.Reason) == "":
		return inputErr("reason", "required")
	case n > maxReasonLength:
		return inputErr("reason", "%d characters, want at most %d", n, maxReasonLength)
	}
	if d.Notice != "" {
		if err := checkBarringNotice(d.Notice); err != nil {
			return inputErr("notice", "%v", err)
		}
	}
	return nil
}

// checkBarringNotice makes sure notice key renders as an SMS in every language
// with no data: a barring notice carries none, so a key that needs fields
// (balance_low, usage_threshold) would fail only later, in its task.
func checkBarringNotice(key string) error {
	for _, lang := range NotificationLanguages() {
		if _, err := RenderSMS(Notification{Key: key, Language: lang, Data: map[string]any{}}); err != nil {
			if errors.Is(err, ErrUnknownNotification) {
				return fmt.Errorf("unknown notification %q", key)
			}
			return fmt.Errorf("notification %q needs data a barring notice does not carry", key)
		}
	}
	return nil
}

func (k Kind) String() string { return string(k) }

var _ fmt.Stringer = Kind("")
