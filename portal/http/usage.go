package http

import (
	"net/http"
	"time"

	"github.com/simcore/simcore/metering"
)

// defaultUsageRange is the range asked for when from is not given.
const defaultUsageRange = 30 * 24 * time.Hour

// timeParam reads an RFC 3339 time or a date (midnight UTC) from the query.
func timeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, badRequest("invalid_parameter", name, "%s must be an RFC 3339 time or a date (YYYY-MM-DD)", name)
}

// usageRange reads [from, to): to defaults to now, from to 30 days before
// to.
func usageRange(r *http.Request) (time.Time, time.Time, error) {
	to, err := timeParam(r, "to", time.Now().UTC().Truncate(time.Second))
	if err != nil {
		return to, to, err
	}
	from, err := timeParam(r, "from", to.Add(-defaultUsageRange))
	if err != nil {
		return from, to, err
	}
	if !from.Before(to) {
		return from, to, badRequest("invalid_parameter", "from", "from must be before to")
	}
	return from, to, nil
}

func (s *Server) simUsage(w http.ResponseWriter, r *http.Request, me *caller) error {
	iccid, err := s.ownedICCID(r, me)
	if err != nil {
		return err
	}
	from, to, err := usageRange(r)
	if err != nil {
		return err
	}
	by, err := metering.ParseGranularity(r.URL.Query().Get("by"))
	if err != nil {
		return badRequest("invalid_parameter", "by", "by must be hour, day or month")
	}
	u, err := s.cfg.Usage.Usage(r.Context(), metering.UsageQuery{ICCID: iccid, From: from, To: to, By: by})
	if err != nil {
		return err
	}
	if u.Series == nil && by != metering.GranTotal {
		u.Series = []metering.Bucket{}
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) simSessions(w http.ResponseWriter, r *http.Request, me *caller) error {
	iccid, err := s.ownedICCID(r, me)
	if err != nil {
		return err
	}
	from, to, err := usageRange(r)
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 50, 1, 1000)
	if err != nil {
		return err
	}
	page, err := s.cfg.Usage.Sessions(r.Context(), metering.SessionQuery{
		ICCID: iccid, From: from, To: to, Limit: limit, Cursor: r.URL.Query().Get("cursor"),
	})
	if err != nil {
		return err
	}
	if page.Sessions == nil {
		page.Sessions = []metering.Session{}
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}
