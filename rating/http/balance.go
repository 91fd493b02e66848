// Package http serves rating to back-office and billing systems over HTTP:
// GET /v1/sims/{iccid}/balance, authorised with a bearer token. Subscribers
// reach the same answers through the portal.
package http

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/simcore/simcore/internal/httpauth"
	"github.com/simcore/simcore/internal/httpproblem"
	"github.com/simcore/simcore/rating"
)

// Balance answers GET /v1/sims/{iccid}/balance[?periods=N] with the SIM's
// rating.Statement: balance, allowances used and left, charges by period,
// credits. Mount it on a pattern with an {iccid} wildcard.
type Balance struct {
	Accounts *rating.Accounts
	// Token is the bearer token callers must present; it must not be empty.
	Token string
	Log   *slog.Logger
}

func (h *Balance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		httpproblem.Write(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		return
	}
	if !httpauth.Bearer(r, h.Token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="simcore"`)
		httpproblem.Write(w, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
		return
	}
	periods := 3
	if p := r.URL.Query().Get("periods"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 36 {
			httpproblem.Write(w, http.StatusBadRequest, "invalid_periods", "periods: a whole number from 1 to 36")
			return
		}
		periods = n
	}
	st, err := h.Accounts.Statement(r.Context(), r.PathValue("iccid"), periods)
	switch {
	case errors.Is(err, rating.ErrInvalid):
		httpproblem.Write(w, http.StatusBadRequest, "invalid_iccid", err.Error())
		return
	case errors.Is(err, rating.ErrNoPlan):
		httpproblem.Write(w, http.StatusNotFound, "no_rated_plan", "the SIM has no live subscription on a plan in the tariff catalogue")
		return
	case errors.Is(err, rating.ErrNoCatalogue):
		httpproblem.Write(w, http.StatusNotFound, "no_catalogue", "no tariff catalogue is imported")
		return
	case err != nil:
		h.Log.Error("balance", "err", err)
		httpproblem.Write(w, http.StatusInternalServerError, "internal", "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}
