package provisioning

import (
	"context"
	"encoding/json"
	"time"
)

// Change is what a finished request changes in the subscription, stored in
// the same transaction that marks the request done.
type Change struct {
	SwapTo     *SIM               // the new SIM becomes active, the old one retired
	Voicemail  *VoicemailSettings //
	Forwarding *ForwardingParams  // Number "" removes the condition
	Dates      *DatesParams       // also bumps DatesVersion
	Status     SubscriptionStatus // "" leaves it
	DataBarred *bool              // nil leaves it
	// OutgoingBarred sets whether outgoing calls and SMS are barred;
	// nil leaves it.
	OutgoingBarred *bool
	// Schedule are requests to create in the same transaction (a dates
	// change's activation and deactivation), so they exist exactly when
	// the change does. Complete fills in their ID, CreatedAt and UpdatedAt.
	Schedule []Request
	// Notices go into the notice outbox in the same transaction, so a
	// notice exists exactly when its request is done, whatever happens to
	// the process next; Service.SendNotices sends them.
	Notices []Notice
}

// Store keeps inventory, subscriptions and requests (provisioning/postgres).
type Store interface {
	// CreateRequest stores r as pending, filling ID, CreatedAt and
	// UpdatedAt. For a SIM swap it reserves the new SIM in the same
	// transaction: ErrSIMNotFound, ErrSIMNotInStock.
	CreateRequest(ctx context.Context, r *Request) error
	// Request returns a request with its messages; ErrRequestNotFound.
	Request(ctx context.Context, id string) (Request, error)
	// Subscription returns a subscription with its subscriber, plan and
	// services; ErrSubscriptionNotFound.
	Subscription(ctx context.Context, id int64) (Subscription, error)
	// SIM returns an inventory SIM; ErrSIMNotFound.
	SIM(ctx context.Context, iccid string) (SIM, error)
	// StartRequest moves a pending request to in_progress and counts the
	// attempt, if every earlier request of its subscription that is due
	// (not_before <= now) is finished and no other one is in progress;
	// otherwise ErrNotReady. A finished
	// request is returned as it is. It also returns the request's
	// subscription (as Subscription does), read after the start, so a
	// worker needs one call to begin; the request's Messages may be left
	// out. ErrRequestNotFound.
	StartRequest(ctx context.Context, id string, now time.Time) (Request, Subscription, error)
	// RetryLater puts an in-progress request back to pending with why.
	RetryLater(ctx context.Context, id, why string) error
	// Complete marks the request done with its outcome and applies ch.
	Complete(ctx context.Context, id string, outcome json.RawMessage, ch Change) error
	// Fail marks the request failed with why, releasing a SIM it reserved.
	Fail(ctx context.Context, id, why string) error
	// Stale lists due pending requests, and requests in progress, not
	// updated since before, oldest first: the sweeper re-enqueues them in
	// case their task was lost.
	Stale(ctx context.Context, before time.Time, limit int) ([]Request, error)
	// RecordMessages notes the SMS parts submitted for a request.
	RecordMessages(ctx context.Context, id string, messageIDs []string) error
	// RecordReceipt updates the state of a submitted SMS part; unknown
	// message ids are ignored (false).
	RecordReceipt(ctx context.Context, messageID, state string, at time.Time) (bool, error)
	NoticeOutbox
}

// Notice is a message to a subscriber about a finished request, sent apart
// from the request (from the notice outbox, or a task of its own for
// rating's alerts) so a slow SMSC or mail server never holds a network
// change back.
type Notice struct {
	ID       string         `json:"id"`      // unique per request and channel
	Channel  string         `json:"channel"` // sms or email
	To       string         `json:"to"`      // MSISDN or email address
	Language string         `json:"language"`
	Key      string         `json:"key"` // template key
	Data     map[string]any `json:"data"`
	// Attempts counts the outbox's tries to send it, this one included.
	Attempts int `json:"-"`
	// RequestID is the request the notice is about, for notices from the
	// outbox: their SMS parts are recorded on it with their receipts.
	// Empty for notices of their own (rating's), whose SMS asks for no
	// receipt.
	RequestID string `json:"-"`
}

// Queue runs requests and notices in the background (workers/asynq).
type Queue interface {
	// EnqueueRequest schedules r's task at r.NotBefore; the same request
	// enqueued twice runs once.
	EnqueueRequest(ctx context.Context, r Request) error
	// EnqueueNotice schedules a notice as a task of its own; the same
	// notice id runs once. (Notices of requests go through the outbox.)
	EnqueueNotice(ctx context.Context, n Notice) error
}
