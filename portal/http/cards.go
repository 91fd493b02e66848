package http

import (
	"context"
	"errors"

	"github.com/simcore/simcore/portal"
	"github.com/simcore/simcore/provisioning"
)

// Inventory is what CardVerifier reads (provisioning/postgres.Store).
type Inventory interface {
	SIM(ctx context.Context, iccid string) (provisioning.SIM, error)
	VerifyActivationCode(ctx context.Context, iccid, code string, h *provisioning.ActivationHasher) (bool, error)
}

// CardVerifier checks activation codes against provisioning's inventory;
// it implements portal.CardVerifier.
type CardVerifier struct {
	inv    Inventory
	hasher *provisioning.ActivationHasher
}

var _ portal.CardVerifier = (*CardVerifier)(nil)

// NewCardVerifier returns a verifier on inv with the activation-code key's
// hasher.
func NewCardVerifier(inv Inventory, h *provisioning.ActivationHasher) (*CardVerifier, error) {
	if inv == nil || h == nil {
		return nil, provisioning.ErrNoActivationKey
	}
	return &CardVerifier{inv: inv, hasher: h}, nil
}

// VerifyCard reports whether code opens card iccid: false for an unknown
// or retired card, as for a wrong code.
func (c *CardVerifier) VerifyCard(ctx context.Context, iccid, code string) (bool, error) {
	ok, err := c.inv.VerifyActivationCode(ctx, iccid, code, c.hasher)
	if errors.Is(err, provisioning.ErrSIMNotFound) {
		return false, nil
	}
	if err != nil || !ok {
		return false, err
	}
	sim, err := c.inv.SIM(ctx, iccid)
	if err != nil {
		return false, err
	}
	return sim.State != provisioning.SIMRetired, nil
}

// Mailer adapts a provisioning.Mailer (workers/email) to portal.Mailer.
func Mailer(m provisioning.Mailer) portal.Mailer { return mailer{m} }

type mailer struct{ m provisioning.Mailer }

func (a mailer) SendEmail(ctx context.Context, e portal.Email) error {
	return a.m.SendEmail(ctx, provisioning.Email{To: e.To, Subject: e.Subject, Text: e.Text})
}
