package http

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/simcore/simcore/numbering"
	"github.com/simcore/simcore/portal"
	"github.com/simcore/simcore/provisioning"
)

// ownedICCID is the path's ICCID if it is on the caller's account, else
// portal.ErrSIMNotOwned: a malformed ICCID, a card nobody has and another
// user's card all look the same.
func (s *Server) ownedICCID(r *http.Request, me *caller) (string, error) {
	iccid := r.PathValue("iccid")
	if numbering.ICCIDProblem(iccid) != "" {
		return "", portal.ErrSIMNotOwned
	}
	ok, err := s.cfg.Accounts.OwnsSIM(r.Context(), me.user.ID, iccid)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", portal.ErrSIMNotOwned
	}
	return iccid, nil
}

// simViews builds the views of owned SIMs with their current lines.
func (s *Server) simViews(ctx context.Context, owned []portal.OwnedSIM) ([]simView, error) {
	iccids := make([]string, len(owned))
	for i, o := range owned {
		iccids[i] = o.ICCID
	}
	subs, err := s.cfg.Lines.SubscriptionsOnSIMs(ctx, iccids)
	if err != nil {
		return nil, err
	}
	// The current line of a SIM: one that has not ended, else the latest.
	current := map[string]provisioning.Subscription{}
	for _, sub := range subs { // newest first
		cur, seen := current[sub.ICCID]
		if !seen || (cur.Status == provisioning.StatusEnded && sub.Status != provisioning.StatusEnded) {
			current[sub.ICCID] = sub
		}
	}
	out := make([]simView, 0, len(owned))
	for _, o := range owned {
		v := simView{ICCID: o.ICCID, AddedAt: o.AddedAt}
		sim, err := s.cfg.Lines.SIM(ctx, o.ICCID)
		switch {
		case errors.Is(err, provisioning.ErrSIMNotFound):
			v.State = "unknown"
		case err != nil:
			return nil, err
		default:
			v.State = sim.State
		}
		if sub, ok := current[o.ICCID]; ok {
			v.Subscription = &simLine{SubscriptionID: sub.ID, MSISDN: sub.MSISDN, Status: sub.Status, Plan: sub.Plan.Name}
			if sub.Status != provisioning.StatusEnded {
				if v.Money, err = s.money(ctx, o.ICCID); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, v)
	}
	return out, nil
}

type simList struct {
	SIMs []simView `json:"sims"`
}

func (s *Server) listSIMs(w http.ResponseWriter, r *http.Request, me *caller) error {
	owned, err := s.cfg.Accounts.SIMs(r.Context(), me.user.ID)
	if err != nil {
		return err
	}
	vs, err := s.simViews(r.Context(), owned)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, simList{SIMs: vs})
	return nil
}

func (s *Server) getSIM(w http.ResponseWriter, r *http.Request, me *caller) error {
	iccid, err := s.ownedICCID(r, me)
	if err != nil {
		return err
	}
	return s.writeSIM(w, r, me, iccid, http.StatusOK)
}

func (s *Server) writeSIM(w http.ResponseWriter, r *http.Request, me *caller, iccid string, status int) error {
	owned, err := s.cfg.Accounts.SIMs(r.Context(), me.user.ID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(owned, func(o portal.OwnedSIM) bool { return o.ICCID == iccid })
	if i < 0 {
		return portal.ErrSIMNotOwned
	}
	vs, err := s.simViews(r.Context(), owned[i:i+1])
	if err != nil {
		return err
	}
	writeJSON(w, status, vs[0])
	return nil
}

type addSIMBody struct {
	ICCID          string `json:"iccid"`
	ActivationCode string `json:"activation_code"`
}

func (s *Server) addSIM(w http.ResponseWriter, r *http.Request, me *caller) error {
	var b addSIMBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	if err := s.cfg.Accounts.ClaimSIM(r.Context(), s.cfg.Cards, me.user.ID, b.ICCID, b.ActivationCode); err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/sims/"+b.ICCID)
	return s.writeSIM(w, r, me, b.ICCID, http.StatusCreated)
}

func (s *Server) removeSIM(w http.ResponseWriter, r *http.Request, me *caller) error {
	iccid, err := s.ownedICCID(r, me)
	if err != nil {
		return err
	}
	if err := s.cfg.Accounts.ReleaseSIM(r.Context(), me.user.ID, iccid); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
