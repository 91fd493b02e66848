package hlr

import (
	"encoding/json"
	"net/http"
)

// Problem codes: the stable `code` member of every problem+json answer. The
// list and what each means to a caller is in docs/network.md.
const (
	codeMalformedJSON         = "malformed_json"
	codeMissingIdempotencyKey = "missing_idempotency_key"
	codeInvalidIdempotencyKey = "invalid_idempotency_key"
	codeUnauthorized          = "unauthorized"
	codeNotFound              = "not_found"
	codeSubscriberNotFound    = "subscriber_not_found"
	codeMethodNotAllowed      = "method_not_allowed"
	codeMSISDNExists          = "msisdn_exists"
	codeIMSIInUse             = "imsi_in_use"
	codeICCIDInUse            = "iccid_in_use"
	codeBodyTooLarge          = "body_too_large"
	codeUnsupportedMediaType  = "unsupported_media_type"
	codeMissingField          = "missing_field"
	codeInvalidMSISDN         = "invalid_msisdn"
	codeInvalidIMSI           = "invalid_imsi"
	codeInvalidICCID          = "invalid_iccid"
	codeInvalidNumber         = "invalid_number"
	codeInvalidLanguage       = "invalid_language"
	codeInvalidCondition      = "invalid_condition"
	codeIdempotencyKeyReused  = "idempotency_key_reused"
	codeUnavailable           = "unavailable"
)

const (
	contentTypeJSON          = "application/json"
	contentTypeProblem       = "application/problem+json"
	headerIdempotencyKey     = "Idempotency-Key"
	headerIdempotentReplayed = "Idempotent-Replayed"
	retryAfterSeconds        = "1"
	maxBodyBytes             = 64 << 10
	maxIdempotencyKeyBytes   = 255
	// codeClientClosed is the metrics' status for a caller that left before
	// the answer (nginx's 499).
	codeClientClosed = "499"
)

// problem is an RFC 9457 problem details body with a stable code.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// response is a complete answer: what is written, and what an idempotency
// key replays.
type response struct {
	status   int
	ctype    string // empty: no body
	location string
	body     []byte
}

func problemResponse(status int, code, detail string) response {
	b, err := json.Marshal(problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code, Detail: detail})
	if err != nil { // cannot happen: strings and an int
		panic(err)
	}
	return response{status: status, ctype: contentTypeProblem, body: append(b, '\n')}
}

func jsonResponse(status int, v any) response {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen: the subscriber type marshals
		panic(err)
	}
	return response{status: status, ctype: contentTypeJSON, body: append(b, '\n')}
}

func (r response) write(w http.ResponseWriter, replayed bool) {
	h := w.Header()
	if r.ctype != "" {
		h.Set("Content-Type", r.ctype)
	}
	if r.location != "" {
		h.Set("Location", r.location)
	}
	if replayed {
		h.Set(headerIdempotentReplayed, "true")
	}
	w.WriteHeader(r.status)
	if len(r.body) > 0 {
		_, _ = w.Write(r.body)
	}
}
