package http

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/simcore/simcore/rating"
)

// Balances answers money questions and takes top-ups (rating.Accounts).
type Balances interface {
	Statement(ctx context.Context, iccid string, periods int) (rating.Statement, error)
	RedeemVoucher(ctx context.Context, iccid, code, by string) (rating.Credit, error)
}

// simMoney is what the SIM list shows of a SIM's money and allowances.
type simMoney struct {
	Balance    rating.Money            `json:"balance"`
	Allowances []rating.AllowanceState `json:"allowances"`
	DataBarred bool                    `json:"data_barred"`
	// OutgoingBarred: outgoing calls and SMS are barred (balance used up).
	OutgoingBarred bool `json:"outgoing_barred"`
}

// money returns the SIM's balance and allowances, or nil when its line is
// not on a rated plan.
func (s *Server) money(ctx context.Context, iccid string) (*simMoney, error) {
	st, err := s.cfg.Balances.Statement(ctx, iccid, 1)
	if errors.Is(err, rating.ErrNoPlan) || errors.Is(err, rating.ErrNoCatalogue) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &simMoney{Balance: st.Balance, Allowances: st.Allowances, DataBarred: st.DataBarred, OutgoingBarred: st.OutgoingBarred}, nil
}

// simBalance is GET /v1/sims/{iccid}/balance: the statement, with the last
// ?periods=N (1-36, default 3) periods of charges.
func (s *Server) simBalance(w http.ResponseWriter, r *http.Request, me *caller) error {
	iccid, err := s.ownedICCID(r, me)
	if err != nil {
		return err
	}
	periods := 3
	if p := r.URL.Query().Get("periods"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 36 {
			return &requestError{status: http.StatusBadRequest, code: "invalid_parameter", field: "periods", detail: "a whole number from 1 to 36"}
		}
		periods = n
	}
	st, err := s.cfg.Balances.Statement(r.Context(), iccid, periods)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

type topUpBody struct {
	VoucherCode string `json:"voucher_code"`
}

type topUpView struct {
	Credit  rating.Credit `json:"credit"`
	Balance rating.Money  `json:"balance"`
}

// topUp is POST /v1/sims/{iccid}/topups: redeem a voucher onto the SIM's
// line. A code is redeemed once, whoever asks and however often.
func (s *Server) topUp(w http.ResponseWriter, r *http.Request, me *caller) error {
	iccid, err := s.ownedICCID(r, me)
	if err != nil {
		return err
	}
	var b topUpBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	if strings.TrimSpace(b.VoucherCode) == "" || len(b.VoucherCode) > 64 {
		return &requestError{status: http.StatusUnprocessableEntity, code: "validation_failed", field: "voucher_code", detail: "required, at most 64 characters"}
	}
	c, err := s.cfg.Balances.RedeemVoucher(r.Context(), iccid, b.VoucherCode, "portal:user:"+strconv.FormatInt(me.user.ID, 10))
	switch {
	case errors.Is(err, rating.ErrVoucherNotFound):
		return &requestError{status: http.StatusUnprocessableEntity, code: "voucher_not_found", field: "voucher_code", detail: "no voucher has this code"}
	case errors.Is(err, rating.ErrVoucherExpired):
		return &requestError{status: http.StatusUnprocessableEntity, code: "voucher_expired", field: "voucher_code", detail: "the voucher has expired"}
	case errors.Is(err, rating.ErrCurrency):
		return &requestError{status: http.StatusUnprocessableEntity, code: "voucher_currency", field: "voucher_code", detail: err.Error()}
	case err != nil:
		return err
	}
	st, err := s.cfg.Balances.Statement(r.Context(), iccid, 1)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, topUpView{Credit: c, Balance: st.Balance})
	return nil
}
