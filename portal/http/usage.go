package http

import (
	"net/http"
	"time"

	"github.com/simcore/simcore/metering"
)

// defaultUsageRange is the range asked for when from is not given.
const defaultUsageRange = 30 * 24 * time.Hour

// timeParam reads an RFC 3339 time or a date (midnight UTC) from the query,
// and reports whether it was a date.
func timeParam(r *http.Request, name string, def time.Time) (time.Time, bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, false, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), false, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true, nil
	}
	return time.Time{}, false, badRequest("invalid_parameter", name, "%s must be an RFC 3339 time or a date (YYYY-MM-DD)", name)
}

// usageRange reads [from, to): to defaults to now, from to 30 days before
// to. A date as to counts its whole day, as in the CLI (`simcore usage`), so
// from=D&to=D is day D; a time as to is exclusive.
func usageRange(r *http.Request) (time.Time, time.Time, error) {
	to, date, err := timeParam(r, "to", time.Now().UTC().Truncate(time.Second))
	if err != nil {
		return to, to, err
	}
	if date {
		to = to.AddDate(0, 0, 1)
	}
	from, _, err := timeParam(r, "from", to.Add(-defaultUsageRange))
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
