// Package httpauth checks the bearer tokens of simcore's machine-to-machine
// HTTP APIs (the ingest push, the balance API).
package httpauth

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Bearer reports whether r carries Authorization: Bearer want, comparing
// the token in constant time. The scheme is matched without regard to
// case (RFC 9110 section 11.1). An empty want matches nothing.
func Bearer(r *http.Request, want string) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || want == "" || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimLeft(tok, " ")), []byte(want)) == 1
}
