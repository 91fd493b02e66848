package http

import (
	"encoding/json"
	"time"

	"github.com/simcore/simcore/provisioning"
)

// The API's views of provisioning's types: what a subscriber may see (no
// IMSI, no APN password, no internal ids of other people).

type planView struct {
	Name string `json:"name"`
	APN  string `json:"apn"`
}

type subscriptionView struct {
	ID         int64                                  `json:"id"`
	MSISDN     string                                 `json:"msisdn"`
	ICCID      string                                 `json:"iccid"`
	Status     provisioning.SubscriptionStatus        `json:"status"`
	Plan       planView                               `json:"plan"`
	StartDate  string                                 `json:"start_date"`
	EndDate    *string                                `json:"end_date,omitempty"`
	Voicemail  provisioning.VoicemailSettings         `json:"voicemail"`
	Forwarding map[provisioning.ForwardingKind]string `json:"forwarding"`
}

func viewSubscription(s provisioning.Subscription) subscriptionView {
	v := subscriptionView{
		ID: s.ID, MSISDN: s.MSISDN, ICCID: s.ICCID, Status: s.Status,
		Plan:      planView{Name: s.Plan.Name, APN: s.Plan.APN},
		StartDate: s.StartDate.Format(time.DateOnly), Voicemail: s.Voicemail, Forwarding: s.Forwarding,
	}
	if s.EndDate != nil {
		d := s.EndDate.Format(time.DateOnly)
		v.EndDate = &d
	}
	if v.Forwarding == nil {
		v.Forwarding = map[provisioning.ForwardingKind]string{}
	}
	return v
}

// simLine is a SIM's current subscription, as the SIM list shows it.
type simLine struct {
	SubscriptionID int64                           `json:"subscription_id"`
	MSISDN         string                          `json:"msisdn"`
	Status         provisioning.SubscriptionStatus `json:"status"`
	Plan           string                          `json:"plan"`
}

// simView is a SIM on the caller's account. Money is its line's balance
// and allowances, null when the line is not on a rated plan.
type simView struct {
	ICCID        string                `json:"iccid"`
	State        provisioning.SIMState `json:"state"`
	AddedAt      time.Time             `json:"added_at"`
	Subscription *simLine              `json:"subscription"`
	Money        *simMoney             `json:"money"`
}

type requestView struct {
	ID             string                      `json:"id"`
	SubscriptionID int64                       `json:"subscription_id"`
	Kind           provisioning.Kind           `json:"kind"`
	Params         json.RawMessage             `json:"params"`
	State          provisioning.State          `json:"state"`
	Attempts       int                         `json:"attempts"`
	Outcome        json.RawMessage             `json:"outcome,omitempty"`
	NotBefore      time.Time                   `json:"not_before"`
	CreatedAt      time.Time                   `json:"created_at"`
	UpdatedAt      time.Time                   `json:"updated_at"`
	Messages       []provisioning.MessageState `json:"messages"`
}

// viewRequest shows a request without its last error (it may name
// internal hosts) or who asked for it.
func viewRequest(r provisioning.Request) requestView {
	v := requestView{ID: r.ID, SubscriptionID: r.SubscriptionID, Kind: r.Kind, Params: r.Params, State: r.State,
		Attempts: r.Attempts, Outcome: r.Outcome, NotBefore: r.NotBefore, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		Messages: r.Messages}
	if v.Messages == nil {
		v.Messages = []provisioning.MessageState{}
	}
	if len(v.Params) == 0 {
		v.Params = json.RawMessage("{}")
	}
	return v
}
