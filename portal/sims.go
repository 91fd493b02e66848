package portal

import (
	"context"
	"errors"
	"strconv"

	"github.com/simcore/simcore/numbering"
)

// ClaimSIM puts the card iccid on user's account when code is the
// activation code printed on it. Every attempt counts against the user and
// against the card (a successful one is refunded), so codes cannot be
// guessed at speed, by one account or by many. An unknown card, a wrong
// code and a card another user has claimed are the same
// ErrActivationFailed. Errors: ErrInvalid, ErrActivationFailed,
// ErrSIMAlreadyAdded, ErrRateLimited.
func (a *Accounts) ClaimSIM(ctx context.Context, cards CardVerifier, user int64, iccid, code string) error {
	if p := numbering.ICCIDProblem(iccid); p != "" {
		return fieldErr("iccid", "%s", p)
	}
	if code == "" || len(code) > 64 {
		return fieldErr("activation_code", "want 1 to 64 characters")
	}
	userKey := limitKey("card-user", strconv.FormatInt(user, 10))
	if err := a.take(ctx, "activation", userKey, a.cfg.CardPerUser); err != nil {
		return err
	}
	simKey := limitKey("card-sim", iccid)
	if err := a.take(ctx, "activation", simKey, a.cfg.CardPerSIM); err != nil {
		return err
	}
	ok, err := cards.VerifyCard(ctx, iccid, code)
	if err != nil {
		return err
	}
	if !ok {
		return ErrActivationFailed
	}
	err = a.cfg.Store.ClaimSIM(ctx, user, iccid)
	if err == nil || errors.Is(err, ErrSIMAlreadyAdded) {
		for _, k := range []string{userKey, simKey} {
			if rerr := a.cfg.Limiter.Refund(ctx, k); rerr != nil {
				a.cfg.Log.WarnContext(ctx, "refund activation attempt", "err", rerr)
			}
		}
	}
	return err
}

// ReleaseSIM takes iccid off user's account; ErrSIMNotOwned.
func (a *Accounts) ReleaseSIM(ctx context.Context, user int64, iccid string) error {
	return a.cfg.Store.ReleaseSIM(ctx, user, iccid)
}

// SIMs lists user's SIMs in the order they were added.
func (a *Accounts) SIMs(ctx context.Context, user int64) ([]OwnedSIM, error) {
	return a.cfg.Store.SIMs(ctx, user)
}

// OwnsSIM reports whether iccid is on user's account.
func (a *Accounts) OwnsSIM(ctx context.Context, user int64, iccid string) (bool, error) {
	return a.cfg.Store.OwnsSIM(ctx, user, iccid)
}
