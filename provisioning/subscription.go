package provisioning

import (
	"errors"
	"time"
)

// Errors about subscriptions.
var (
	ErrSubscriptionNotFound = errors.New("subscription not found")
	ErrRequestNotFound      = errors.New("provisioning request not found")
	// ErrNotReady: an earlier request of the same subscription is not
	// finished yet; the request waits its turn.
	ErrNotReady = errors.New("an earlier request of this subscription is still open")
	// ErrConflict: the request contradicts the subscription's state (a
	// resume of an active line, a date in the past).
	ErrConflict = errors.New("request conflicts with the subscription's state")
)

// SubscriptionStatus is a subscription's state on the network.
type SubscriptionStatus string

// Subscription statuses.
const (
	StatusPending   SubscriptionStatus = "pending" // before its start date
	StatusActive    SubscriptionStatus = "active"
	StatusSuspended SubscriptionStatus = "suspended"
	StatusEnded     SubscriptionStatus = "ended"
)

// Subscriber is a person reachable by SMS and email, in their language.
type Subscriber struct {
	ID        int64  `json:"id"`
	AccountID int64  `json:"account_id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	Language  string `json:"language"`
}

// Plan is what a subscription buys; for provisioning, its APN settings.
type Plan struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	APN         string `json:"apn"`
	APNUsername string `json:"apn_username,omitempty"`
	APNPassword string `json:"-"` // sent to the subscriber's phone by SMS only
}

// Subscription is an MSISDN on a SIM under a plan, with its services.
type Subscription struct {
	ID         int64                     `json:"id"`
	Subscriber Subscriber                `json:"subscriber"`
	Plan       Plan                      `json:"plan"`
	MSISDN     string                    `json:"msisdn"`
	ICCID      string                    `json:"iccid"`
	IMSI       string                    `json:"imsi"`
	Status     SubscriptionStatus        `json:"status"`
	StartDate  time.Time                 `json:"start_date"`
	EndDate    *time.Time                `json:"end_date,omitempty"`
	Voicemail  VoicemailSettings         `json:"voicemail"`
	Forwarding map[ForwardingKind]string `json:"forwarding"`
	// PastICCIDs are the cards the subscription was on before SIM swaps,
	// newest first.
	PastICCIDs []string `json:"past_iccids,omitempty"`
	// DatesVersion counts date changes, so a scheduled activation or
	// deactivation for superseded dates does nothing.
	DatesVersion int `json:"dates_version"`
	// DataBarred: mobile data is barred on the network (bar_data), kept
	// through a suspension and its resumption until unbar_data.
	DataBarred bool `json:"data_barred"`
	// OutgoingBarred: outgoing calls and SMS are barred on the network
	// (bar_outgoing), kept like DataBarred until unbar_outgoing.
	OutgoingBarred bool `json:"outgoing_barred"`
}

// Barring is the barring the network should have for the subscription as
// recorded: every barring change sends the bars it does not change as
// they are, so that setting one never lifts another.
func (s Subscription) Barring() Barring {
	return Barring{All: s.Status == StatusSuspended, Data: s.DataBarred, Outgoing: s.OutgoingBarred}
}

// WaitError is the ErrNotReady of a request that waits for request For,
// the earliest open request before it on its line.
type WaitError struct{ For string }

func (e *WaitError) Error() string { return "waits for request " + e.For + ": " + ErrNotReady.Error() }

// Unwrap makes errors.Is(err, ErrNotReady) hold.
func (e *WaitError) Unwrap() error { return ErrNotReady }
