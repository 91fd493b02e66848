package gateway

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/simcore/simcore/provisioning"
)

// Problem codes the gateway answers with (docs/network.md lists them all).
// Callers match the ones they act on through *ProblemError.
const (
	CodeSubscriberNotFound     = "subscriber_not_found"
	CodeMSISDNExists           = "msisdn_exists"
	CodeIMSIInUse              = "imsi_in_use"
	CodeICCIDInUse             = "iccid_in_use"
	CodeIdempotencyKeyReused   = "idempotency_key_reused"
	CodeIdempotencyKeyInFlight = "idempotency_key_in_flight"
	CodeUnauthorized           = "unauthorized"
	CodeUnavailable            = "unavailable"
	CodeRateLimited            = "rate_limited"
)

// ProblemError is an answer other than success: the HTTP status and the
// problem document's stable code (or "http_<status>" when the body was not a
// problem document). It unwraps to provisioning.ErrPermanent when Permanent.
type ProblemError struct {
	Op        string // the operation, e.g. "swap_sim"
	Status    int
	Code      string
	Detail    string
	Permanent bool
}

// Error returns "gateway swap_sim: 409 imsi_in_use: <detail>"; the status
// is left out for a call refused before it was sent (code invalid_call).
func (e *ProblemError) Error() string {
	s := "gateway " + e.Op + ": "
	if e.Status != 0 {
		s += strconv.Itoa(e.Status) + " "
	}
	s += e.Code
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is matches provisioning.ErrAlreadyProvisioned (msisdn_exists) and
// provisioning.ErrNotProvisioned (subscriber_not_found).
func (e *ProblemError) Is(target error) bool {
	switch target {
	case provisioning.ErrAlreadyProvisioned:
		return e.Code == CodeMSISDNExists
	case provisioning.ErrNotProvisioned:
		return e.Code == CodeSubscriberNotFound
	}
	return false
}

// Unwrap returns provisioning.ErrPermanent for a permanent refusal.
func (e *ProblemError) Unwrap() error {
	if e.Permanent {
		return provisioning.ErrPermanent
	}
	return nil
}

// RetryAfterError is a transient answer that said how long to wait
// (Retry-After) before sending the same request again.
type RetryAfterError struct {
	Delay time.Duration
	Err   error // the *ProblemError
}

// Error returns the answer's message and the delay.
func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.Delay)
}

// RetryAfter returns Delay, for callers that declare a small interface
// (workers/asynq's RetryAfter) rather than import this package.
func (e *RetryAfterError) RetryAfter() time.Duration { return e.Delay }

// Unwrap returns the *ProblemError.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// permanent reports whether an answer is a refusal that a retry of the same
// request cannot change. Statuses outside 4xx (an unexpected 1xx or 3xx
// included) are taken as transient: a task retried in vain is visible in
// metrics, a change dropped for good is not.
func permanent(status int, code string) bool {
	switch {
	case status < 400 || status >= 500:
		return false
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly, status == http.StatusTooManyRequests:
		return false
	case status == http.StatusConflict && code == CodeIdempotencyKeyInFlight:
		return false
	}
	return true
}

// MaxRetryAfter caps the delay a Retry-After may ask for (the workers'
// own backoff tops out at the same): an absurd one from a broken gateway or
// proxy would otherwise park the request, and every later request of its
// subscription, for years.
const MaxRetryAfter = 5 * time.Minute

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date,
// capped at MaxRetryAfter.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return min(time.Duration(n)*time.Second, MaxRetryAfter), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}
