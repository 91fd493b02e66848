package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/portal"
	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/rating"
)

// Problem is an RFC 9457 problem details object. Code is stable: clients
// branch on it, never on Title or Detail. Field names the request field at
// fault, for validation errors.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Code      string `json:"code"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// problemType is the type URI of a code.
func problemType(code string) string { return "urn:simcore:problem:" + code }

// errorTable maps domain errors to a status and a stable code: the one
// place that decides what a caller sees. The first entry that matches
// (errors.Is) wins, so more specific errors come first. Anything not here
// is an internal error: logged with the request id, shown as a generic 500.
var errorTable = []struct {
	err    error
	status int
	code   string
	title  string
}{
	{portal.ErrRateLimited, http.StatusTooManyRequests, "rate_limited", "Too many attempts; retry later"},
	{portal.ErrInvalid, http.StatusUnprocessableEntity, "validation_failed", "A field is not valid"},
	{provisioning.ErrInvalid, http.StatusUnprocessableEntity, "validation_failed", "A field is not valid"},
	{metering.ErrInvalidQuery, http.StatusUnprocessableEntity, "invalid_query", "The usage query cannot be answered as asked"},
	{portal.ErrEmailTaken, http.StatusConflict, "email_taken", "That email address is already registered"},
	{portal.ErrBadCredentials, http.StatusUnauthorized, "invalid_credentials", "Wrong email or password"},
	{portal.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated", "Log in first"},
	{portal.ErrCSRF, http.StatusForbidden, "csrf_failed", "Missing or wrong X-CSRF-Token"},
	{portal.ErrWrongPassword, http.StatusForbidden, "wrong_password", "The current password is wrong"},
	{portal.ErrTokenInvalid, http.StatusUnprocessableEntity, "token_invalid", "The token is invalid, used or expired"},
	{portal.ErrActivationFailed, http.StatusUnprocessableEntity, "activation_failed", "The ICCID and activation code do not match a card you can add"},
	{portal.ErrSIMAlreadyAdded, http.StatusConflict, "sim_already_added", "The SIM is already on your account"},
	{portal.ErrSIMNotOwned, http.StatusNotFound, "sim_not_found", "No such SIM on your account"},
	{errSubscriptionNotOwned, http.StatusNotFound, "subscription_not_found", "No such subscription on your account"},
	{errRequestNotOwned, http.StatusNotFound, "request_not_found", "No such request on your account"},
	{provisioning.ErrSIMNotInStock, http.StatusConflict, "sim_not_available", "That SIM cannot be used for a swap"},
	{provisioning.ErrConflict, http.StatusConflict, "conflict", "The request conflicts with the subscription's state"},
	{rating.ErrNoPlan, http.StatusNotFound, "no_rated_plan", "The SIM's line is not on a plan with a balance"},
	{rating.ErrNoCatalogue, http.StatusNotFound, "no_rated_plan", "The SIM's line is not on a plan with a balance"},
	{rating.ErrVoucherRedeemed, http.StatusConflict, "voucher_redeemed", "The voucher has already been redeemed"},
	{errNotFound, http.StatusNotFound, "not_found", "No such resource"},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed on this resource"},
}

// Errors of the HTTP layer itself.
var (
	errNotFound             = errors.New("no such route")
	errMethodNotAllowed     = errors.New("method not allowed")
	errSubscriptionNotOwned = errors.New("subscription not found")
	errRequestNotOwned      = errors.New("request not found")
)

// requestError is a fault in the request itself (body, parameters,
// headers): it carries its own status and code.
type requestError struct {
	status int
	code   string
	field  string
	detail string
}

func (e *requestError) Error() string { return e.code + ": " + e.detail }

func badRequest(code, field, format string, a ...any) error {
	return &requestError{status: http.StatusBadRequest, code: code, field: field, detail: fmt.Sprintf(format, a...)}
}

// problemFor builds the problem for err, and reports whether err is an
// internal error (to be logged, not shown).
func problemFor(err error) (Problem, bool) {
	var re *requestError
	if errors.As(err, &re) {
		return Problem{Type: problemType(re.code), Title: http.StatusText(re.status), Status: re.status, Code: re.code, Field: re.field, Detail: re.detail}, false
	}
	for _, e := range errorTable {
		if !errors.Is(err, e.err) {
			continue
		}
		p := Problem{Type: problemType(e.code), Title: e.title, Status: e.status, Code: e.code}
		var (
			fe *portal.FieldError
			ie *provisioning.InputError
			me *metering.ValidationError
		)
		switch {
		case errors.As(err, &fe):
			p.Field, p.Detail = fe.Field, fe.Error()
		case errors.As(err, &ie):
			p.Field, p.Detail = ie.Field, ie.Error()
		case errors.As(err, &me):
			p.Field, p.Detail = me.Field, me.Error()
		case e.code == "invalid_query":
			p.Detail = err.Error()
		}
		return p, false
	}
	if unavailable(err) {
		// Still logged with the request id, as internal errors are: the
		// operator needs the cause; the caller needs only to retry.
		return Problem{Type: problemType("unavailable"), Title: "Temporarily unavailable; retry later", Status: http.StatusServiceUnavailable, Code: "unavailable"}, true
	}
	return Problem{Type: problemType("internal"), Title: "Internal error; quote the request id when reporting it", Status: http.StatusInternalServerError, Code: "internal"}, true
}

// statusClientClosed is the status recorded for a request whose client
// disconnected before the answer.
const statusClientClosed = 499

// writeProblem answers err as a problem, logging internal errors.
func writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	p, internal := problemFor(err)
	ctx := r.Context()
	p.RequestID = requestIDFrom(ctx)
	if internal && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// The client went away mid-request: not our fault, and nobody
		// reads the answer. 499 (nginx's "client closed request") keeps it
		// out of the 5xx counts.
		logFrom(ctx).InfoContext(ctx, "client closed the request")
		w.WriteHeader(statusClientClosed)
		return
	}
	if internal {
		logFrom(ctx).ErrorContext(ctx, "internal error", "err", err)
	}
	var rl *portal.RateLimitError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(rl.RetryAfter.Seconds(), 1)))))
	}
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="simcore"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// unavailableRetryAfter is the Retry-After, in seconds, of a 503: about
// what a PostgreSQL restart or failover takes.
const unavailableRetryAfter = 5

// unavailable reports whether err says that a store (PostgreSQL,
// ClickHouse, Redis) could not be reached or dropped the
// connection, as during its restart or failover, rather than failing the
// request itself: the answer is 503 and the caller should retry. It looks
// only at standard interfaces, so no driver is imported here: a network
// error, or a PostgreSQL SQLSTATE of class 08 (connection exception) or
// 57P (the server is shutting down, or starting up).
func unavailable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var se interface{ SQLState() string }
	if errors.As(err, &se) {
		c := se.SQLState()
		return strings.HasPrefix(c, "08") || strings.HasPrefix(c, "57P")
	}
	return false
}
