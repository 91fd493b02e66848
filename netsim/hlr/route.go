package hlr

import (
	"net/http"
	"net/url"
	"strings"
)

// Operations: the metric label values, one per route and method.
const (
	opCreate           = "create_subscriber"
	opGet              = "get_subscriber"
	opDelete           = "delete_subscriber"
	opSwap             = "swap_sim"
	opVoicemail        = "set_voicemail"
	opSetForwarding    = "set_forwarding"
	opCancelForwarding = "cancel_forwarding"
	opBarring          = "set_barring"
	opUnknown          = "unknown" // no route, or a method the route lacks
)

var operations = []string{opCreate, opGet, opDelete, opSwap, opVoicemail, opSetForwarding, opCancelForwarding, opBarring, opUnknown}

// route is a request path and method matched against the API.
type route struct {
	op        string // opUnknown when not matched
	found     bool   // the path names a resource (405 rather than 404 when op is unknown)
	allow     string // the resource's methods, for 405
	msisdn    string // path values, unescaped
	condition string
}

// match routes by hand rather than with http.ServeMux so that every miss is
// a problem+json 404 or 405, and no path is redirected or cleaned: a path
// value is one escaped segment, so "%2F" stays inside it.
func match(method, escapedPath string) route {
	rest, ok := strings.CutPrefix(escapedPath, "/v1/subscribers")
	if !ok {
		return route{op: opUnknown}
	}
	if rest == "" {
		return route{found: true, allow: "POST", op: pick(method, http.MethodPost, opCreate, "", "")}
	}
	rest, ok = strings.CutPrefix(rest, "/")
	if !ok {
		return route{op: opUnknown}
	}
	seg := strings.Split(rest, "/")
	for i, s := range seg {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return route{op: opUnknown}
		}
		seg[i] = u
	}
	r := route{msisdn: seg[0], found: true, op: opUnknown}
	switch {
	case len(seg) == 1:
		r.allow = "GET, DELETE"
		r.op = pick(method, http.MethodGet, opGet, http.MethodDelete, opDelete)
	case len(seg) == 2 && seg[1] == "sim":
		r.allow = "PUT"
		r.op = pick(method, http.MethodPut, opSwap, "", "")
	case len(seg) == 2 && seg[1] == "voicemail":
		r.allow = "PUT"
		r.op = pick(method, http.MethodPut, opVoicemail, "", "")
	case len(seg) == 2 && seg[1] == "barring":
		r.allow = "PUT"
		r.op = pick(method, http.MethodPut, opBarring, "", "")
	case len(seg) == 3 && seg[1] == "forwarding":
		r.condition = seg[2]
		r.allow = "PUT, DELETE"
		r.op = pick(method, http.MethodPut, opSetForwarding, http.MethodDelete, opCancelForwarding)
	default:
		return route{op: opUnknown}
	}
	return r
}

// pick returns the operation of method on a resource with up to two methods.
func pick(method, m1, op1, m2, op2 string) string {
	switch method {
	case m1:
		return op1
	case m2:
		return op2
	}
	return opUnknown
}
