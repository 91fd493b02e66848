// Package httpproblem writes RFC 9457 problem details for simcore's small
// machine-facing HTTP endpoints (ingest push, the back-office balance
// API). The portal has its own, richer problems. It imports no simcore
// package.
package httpproblem

import (
	"encoding/json"
	"net/http"
)

// Problem is an RFC 9457 problem details object with a stable code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// Write answers status with a problem carrying code and detail.
func Write(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code, Detail: detail})
}
