package http

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/simcore/simcore/portal"
	"github.com/simcore/simcore/provisioning"
)

// ownedSubscription is the path's subscription if its SIM is on the
// caller's account, else errSubscriptionNotOwned: a malformed id, a
// subscription that does not exist and another user's all look the same.
func (s *Server) ownedSubscription(r *http.Request, me *caller) (provisioning.Subscription, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return provisioning.Subscription{}, errSubscriptionNotOwned
	}
	return s.subscriptionOf(r, me, id)
}

func (s *Server) subscriptionOf(r *http.Request, me *caller, id int64) (provisioning.Subscription, error) {
	sub, err := s.cfg.Lines.Subscription(r.Context(), id)
	if errors.Is(err, provisioning.ErrSubscriptionNotFound) {
		return provisioning.Subscription{}, errSubscriptionNotOwned
	}
	if err != nil {
		return provisioning.Subscription{}, err
	}
	ok, err := s.cfg.Accounts.OwnsSIM(r.Context(), me.user.ID, sub.ICCID)
	if err != nil {
		return provisioning.Subscription{}, err
	}
	if !ok {
		return provisioning.Subscription{}, errSubscriptionNotOwned
	}
	return sub, nil
}

type subscriptionList struct {
	Subscriptions []subscriptionView `json:"subscriptions"`
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request, me *caller) error {
	owned, err := s.cfg.Accounts.SIMs(r.Context(), me.user.ID)
	if err != nil {
		return err
	}
	iccids := make([]string, len(owned))
	for i, o := range owned {
		iccids[i] = o.ICCID
	}
	subs, err := s.cfg.Lines.SubscriptionsOnSIMs(r.Context(), iccids)
	if err != nil {
		return err
	}
	out := subscriptionList{Subscriptions: make([]subscriptionView, 0, len(subs))}
	for _, sub := range subs {
		out.Subscriptions = append(out.Subscriptions, viewSubscription(sub))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request, me *caller) error {
	sub, err := s.ownedSubscription(r, me)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewSubscription(sub))
	return nil
}

type requestList struct {
	Requests []requestView `json:"requests"`
}

func (s *Server) listRequests(w http.ResponseWriter, r *http.Request, me *caller) error {
	sub, err := s.ownedSubscription(r, me)
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 50, 1, 200)
	if err != nil {
		return err
	}
	rs, err := s.cfg.Lines.ListRequests(r.Context(), sub.ID, limit)
	if err != nil {
		return err
	}
	out := requestList{Requests: make([]requestView, 0, len(rs))}
	for _, x := range rs {
		out.Requests = append(out.Requests, viewRequest(x))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getRequest(w http.ResponseWriter, r *http.Request, me *caller) error {
	req, err := s.cfg.Lines.Request(r.Context(), r.PathValue("id"))
	if errors.Is(err, provisioning.ErrRequestNotFound) {
		return errRequestNotOwned
	}
	if err != nil {
		return err
	}
	if _, err := s.subscriptionOf(r, me, req.SubscriptionID); err != nil {
		if errors.Is(err, errSubscriptionNotOwned) {
			return errRequestNotOwned
		}
		return err
	}
	writeJSON(w, http.StatusOK, viewRequest(req))
	return nil
}

// submit records a provisioning request for sub on the caller's behalf
// and answers 202 with it and where to poll it.
func (s *Server) submit(w http.ResponseWriter, r *http.Request, me *caller, sub provisioning.Subscription, kind provisioning.Kind, params any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	req, err := s.cfg.Submit.Submit(r.Context(), sub.ID, kind, raw, "portal:user:"+strconv.FormatInt(me.user.ID, 10))
	if err != nil {
		if req.ID == "" {
			return err
		}
		// Recorded but not queued: the sweeper queues it.
		logFrom(r.Context()).WarnContext(r.Context(), "provisioning request recorded but not queued", "kind", kind, "err", err)
	}
	w.Header().Set("Location", "/v1/requests/"+req.ID)
	writeJSON(w, http.StatusAccepted, viewRequest(req))
	return nil
}

type simSwapBody struct {
	NewICCID       string `json:"new_iccid"`
	ActivationCode string `json:"activation_code"`
}

// simSwap moves the subscription to a new card, which the caller proves to
// hold by its activation code; the new card joins the caller's account.
func (s *Server) simSwap(w http.ResponseWriter, r *http.Request, me *caller) error {
	sub, err := s.ownedSubscription(r, me)
	if err != nil {
		return err
	}
	var b simSwapBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	err = s.cfg.Accounts.ClaimSIM(r.Context(), s.cfg.Cards, me.user.ID, b.NewICCID, b.ActivationCode)
	claimed := err == nil
	var fe *portal.FieldError
	switch {
	case errors.As(err, &fe) && fe.Field == "iccid":
		return &portal.FieldError{Field: "new_iccid", Reason: fe.Reason}
	case err != nil && !errors.Is(err, portal.ErrSIMAlreadyAdded):
		return err
	}
	err = s.submit(w, r, me, sub, provisioning.KindSIMSwap, provisioning.SIMSwapParams{NewICCID: b.NewICCID})
	if err != nil && claimed {
		// The swap was refused: the card goes back to being nobody's,
		// unless another swap of this user's (a double submit, another
		// line) has reserved it since the claim. Then it stays on the
		// account, or anyone with its code could claim the card that line
		// is moving to.
		if s.reservedForMe(r, me, b.NewICCID) {
			return err
		}
		if rerr := s.cfg.Accounts.ReleaseSIM(r.Context(), me.user.ID, b.NewICCID); rerr != nil {
			logFrom(r.Context()).WarnContext(r.Context(), "release card of a refused swap", "err", rerr)
		}
	}
	return err
}

// reservedForMe reports whether card iccid is reserved by a swap of one of
// the caller's subscriptions; false when that cannot be told.
func (s *Server) reservedForMe(r *http.Request, me *caller, iccid string) bool {
	sim, err := s.cfg.Lines.SIM(r.Context(), iccid)
	if err != nil || sim.State != provisioning.SIMReserved || sim.ReservedBy == "" {
		return false
	}
	req, err := s.cfg.Lines.Request(r.Context(), sim.ReservedBy)
	if err != nil {
		return false
	}
	_, err = s.subscriptionOf(r, me, req.SubscriptionID)
	return err == nil
}

type voicemailBody struct {
	Enabled  *bool  `json:"enabled"`
	Language string `json:"language"`
}

func (s *Server) setVoicemail(w http.ResponseWriter, r *http.Request, me *caller) error {
	sub, err := s.ownedSubscription(r, me)
	if err != nil {
		return err
	}
	var b voicemailBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	if b.Enabled == nil {
		return &portal.FieldError{Field: "enabled", Reason: "required"}
	}
	if b.Language == "" {
		b.Language = sub.Voicemail.Language
	}
	return s.submit(w, r, me, sub, provisioning.KindVoicemail, provisioning.VoicemailParams{Enabled: *b.Enabled, Language: b.Language})
}

type forwardingBody struct {
	Number string `json:"number"`
}

func (s *Server) setForwarding(w http.ResponseWriter, r *http.Request, me *caller) error {
	sub, err := s.ownedSubscription(r, me)
	if err != nil {
		return err
	}
	var b forwardingBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	if b.Number == "" {
		return &portal.FieldError{Field: "number", Reason: "required; DELETE cancels forwarding"}
	}
	return s.submit(w, r, me, sub, provisioning.KindForwarding,
		provisioning.ForwardingParams{Condition: provisioning.ForwardingKind(r.PathValue("condition")), Number: b.Number})
}

func (s *Server) cancelForwarding(w http.ResponseWriter, r *http.Request, me *caller) error {
	sub, err := s.ownedSubscription(r, me)
	if err != nil {
		return err
	}
	return s.submit(w, r, me, sub, provisioning.KindForwarding,
		provisioning.ForwardingParams{Condition: provisioning.ForwardingKind(r.PathValue("condition"))})
}

func (s *Server) sendAPNSettings(w http.ResponseWriter, r *http.Request, me *caller) error {
	sub, err := s.ownedSubscription(r, me)
	if err != nil {
		return err
	}
	if r.ContentLength != 0 {
		var b struct{}
		if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
			return err
		}
	}
	return s.submit(w, r, me, sub, provisioning.KindAPNSMS, struct{}{})
}

type datesBody struct {
	Start string  `json:"start"`
	End   *string `json:"end"`
}

func (s *Server) setDates(w http.ResponseWriter, r *http.Request, me *caller) error {
	sub, err := s.ownedSubscription(r, me)
	if err != nil {
		return err
	}
	var b datesBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	var p provisioning.DatesParams
	if p.Start, err = parseDay("start", b.Start); err != nil {
		return err
	}
	if b.End != nil {
		end, err := parseDay("end", *b.End)
		if err != nil {
			return err
		}
		p.End = &end
	}
	return s.submit(w, r, me, sub, provisioning.KindDates, p)
}

func parseDay(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, &portal.FieldError{Field: field, Reason: "required"}
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, &portal.FieldError{Field: field, Reason: "want a date, YYYY-MM-DD"}
	}
	return t, nil
}

// intParam reads an integer query parameter within [lo, hi].
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("invalid_parameter", name, "%s must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}
