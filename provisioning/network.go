package provisioning

import (
	"context"
	"errors"
	"time"
)

// ErrPermanent marks a network answer that retrying cannot change (unknown
// subscriber, invalid number, a refusal by policy). Adapters wrap it; workers
// stop retrying on it. Any other error is taken as transient.
var ErrPermanent = errors.New("permanent network error")

// Refusals a caller acts on. Adapters' errors match them with errors.Is
// (beside ErrPermanent).
var (
	// ErrAlreadyProvisioned: a create found the MSISDN on the network.
	ErrAlreadyProvisioned = errors.New("msisdn already provisioned")
	// ErrNotProvisioned: the MSISDN is not on the network.
	ErrNotProvisioned = errors.New("msisdn not provisioned")
)

// ForwardingKind is a call-forwarding condition.
type ForwardingKind string

// The call-forwarding conditions (3GPP CFU, CFB, CFNRy, CFNRc).
const (
	ForwardUnconditional ForwardingKind = "unconditional"
	ForwardBusy          ForwardingKind = "busy"
	ForwardNoReply       ForwardingKind = "no_reply"
	ForwardNotReachable  ForwardingKind = "not_reachable"
)

// ForwardingKinds lists every condition, in a stable order.
var ForwardingKinds = []ForwardingKind{ForwardUnconditional, ForwardBusy, ForwardNoReply, ForwardNotReachable}

// Barring is what the network refuses a subscriber. It is always set
// whole: whoever changes one bar sends the others as they are.
type Barring struct {
	All  bool `json:"all"`  // suspended: no service at all
	Data bool `json:"data"` // data barred (quota exhausted)
	// Outgoing bars outgoing calls and SMS (GSM's BAOC, balance
	// exhausted); emergency calls stay allowed, incoming calls and SMS
	// keep working.
	Outgoing bool `json:"outgoing"`
}

// NetworkSubscriber is a subscriber as the HLR/HSS holds it, keyed by MSISDN.
type NetworkSubscriber struct {
	MSISDN     string                    `json:"msisdn"`
	IMSI       string                    `json:"imsi"`
	ICCID      string                    `json:"iccid"`
	Voicemail  VoicemailSettings         `json:"voicemail"`
	Forwarding map[ForwardingKind]string `json:"forwarding"` // condition → E.164 number; absent = not set
	Barring    Barring                   `json:"barring"`
}

// VoicemailSettings is a subscriber's voicemail: on or off, and its language.
type VoicemailSettings struct {
	Enabled  bool   `json:"enabled"`
	Language string `json:"language"` // a code from the voicemail languages list, e.g. "en", "he"
}

// Gateway is the operator's provisioning gateway in front of the HLR/HSS.
// Every change carries an idempotency key: the same key with the same change
// is applied once, however often it is sent. Errors wrap ErrPermanent when a
// retry cannot help.
type Gateway interface {
	// CreateSubscriber provisions msisdn on the SIM (imsi, iccid).
	CreateSubscriber(ctx context.Context, key, msisdn, imsi, iccid string) error
	// SwapSIM moves msisdn to the SIM (imsi, iccid), keeping its services.
	SwapSIM(ctx context.Context, key, msisdn, imsi, iccid string) error
	SetVoicemail(ctx context.Context, key, msisdn string, v VoicemailSettings) error
	// SetForwarding sets a condition to number; an empty number cancels it.
	SetForwarding(ctx context.Context, key, msisdn string, kind ForwardingKind, number string) error
	SetBarring(ctx context.Context, key, msisdn string, b Barring) error
	// DeleteSubscriber removes msisdn from the network (plan end).
	DeleteSubscriber(ctx context.Context, key, msisdn string) error
	// Subscriber reads msisdn's state.
	Subscriber(ctx context.Context, msisdn string) (NetworkSubscriber, error)
}

// SMS is a text message to a subscriber.
type SMS struct {
	To   string // E.164 digits, no '+'
	From string // sender address: digits or an alphanumeric id of up to 11 characters
	Text string // any Unicode text; the sender picks GSM 7-bit or UCS-2 and splits it
	// Ref is the caller's reference, returned with delivery receipts.
	Ref string
	// NoReceipt asks the SMSC for no delivery receipt, for a message whose
	// delivery nothing records: a receipt would find no message to update.
	NoReceipt bool
}

// SMSResult is what the SMSC accepted: one message id per part.
type SMSResult struct {
	MessageIDs []string
	Parts      int
}

// SMSSender submits text messages to an SMSC. Errors wrap ErrPermanent when
// a retry cannot help (a bad destination, a refused sender).
type SMSSender interface {
	SendSMS(ctx context.Context, m SMS) (SMSResult, error)
}

// ErrMessageNotFound means a delivery receipt names a message id no
// request has recorded (yet: the SMSC may report before the worker that
// submitted the message has stored its id).
var ErrMessageNotFound = errors.New("message id not recorded")

// DeliveryReceipt is an SMSC's report on a submitted message part.
type DeliveryReceipt struct {
	MessageID string    // as in SMSResult.MessageIDs (normalised: see workers/smpp)
	State     string    // DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, ENROUTE
	Err       string    // the SMSC's error code, as sent
	Submitted time.Time // zero if the SMSC did not say
	Done      time.Time
}

// Email is a message to a subscriber's address.
type Email struct {
	To      string
	Subject string
	Text    string // plain text body
}

// Mailer sends email. Errors wrap ErrPermanent when a retry cannot help.
type Mailer interface {
	SendEmail(ctx context.Context, m Email) error
}
