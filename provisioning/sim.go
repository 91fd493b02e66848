package provisioning

import (
	"errors"
	"fmt"
	"strings"

	"github.com/simcore/simcore/numbering"
)

// SIMState is where a SIM card is in its life.
type SIMState string

// SIM states: in stock (never used), reserved for a pending swap, active (on
// a subscription), retired (never used again).
const (
	SIMInStock  SIMState = "in_stock"
	SIMReserved SIMState = "reserved"
	SIMActive   SIMState = "active"
	SIMRetired  SIMState = "retired"
)

// Errors about SIMs.
var (
	ErrSIMNotFound   = errors.New("sim not found")
	ErrSIMNotInStock = errors.New("sim not in stock")
	ErrSIMExists     = errors.New("sim already in inventory")
	ErrInvalid       = errors.New("invalid provisioning input")
)

// SIM is a card in the inventory. The activation code printed on the card is
// kept only as a keyed hash (see ActivationHasher).
type SIM struct {
	ICCID string   `json:"iccid"`
	IMSI  string   `json:"imsi"`
	State SIMState `json:"state"`
	// ReservedBy is the swap request a reserved SIM is held for.
	ReservedBy string `json:"-"`
}

// InputError names the field of a request or import row that is wrong. It
// matches ErrInvalid.
type InputError struct {
	Field  string
	Reason string
}

func (e *InputError) Error() string   { return e.Field + ": " + e.Reason }
func (e *InputError) Is(t error) bool { return t == ErrInvalid }

func inputErr(field, format string, a ...any) error {
	return &InputError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// SIMImportRow is one row of an inventory file: iccid,imsi,activation_code.
type SIMImportRow struct {
	ICCID          string
	IMSI           string
	ActivationCode string
}

// Validate checks an import row. Errors are *InputError.
func (r SIMImportRow) Validate() error {
	if p := numbering.ICCIDProblem(r.ICCID); p != "" {
		return inputErr("iccid", "%s", p)
	}
	if !numbering.ValidIMSI(r.IMSI) {
		return inputErr("imsi", "want 14 or 15 digits")
	}
	c := strings.TrimSpace(r.ActivationCode)
	if len(c) < 6 || len(c) > 64 || c != r.ActivationCode {
		return inputErr("activation_code", "want 6 to 64 characters without surrounding spaces")
	}
	return nil
}
