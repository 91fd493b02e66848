package rating

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"time"
)

// Errors about credits, vouchers and balances.
var (
	ErrVoucherNotFound = errors.New("voucher not found")
	ErrVoucherRedeemed = errors.New("voucher already redeemed")
	ErrVoucherExpired  = errors.New("voucher expired")
	// ErrCurrency: a credit in another currency than the SIM's plan.
	ErrCurrency = errors.New("currency does not match the plan's")
	// ErrNoPlan: the SIM has no live subscription, or its plan is not in
	// the catalogue, so there is nothing to rate or credit against.
	ErrNoPlan = errors.New("SIM has no rated plan")
	// ErrIdempotencyKey: a credit's idempotency key was used before for a
	// different credit.
	ErrIdempotencyKey = errors.New("idempotency key already used for another credit")
	ErrNoCatalogue    = errors.New("no tariff catalogue imported")
	ErrInvalid        = errors.New("invalid input")
)

// Credit kinds.
const (
	CreditVoucher      = "voucher"
	CreditDirect       = "credit"        // a payment or a back-office credit
	CreditPlanPurchase = "plan_purchase" // a bundle sold with money on it
)

// Credit is money added to a SIM's balance. Credits are never changed or
// deleted; a correction is another credit.
type Credit struct {
	ID             int64     `json:"id"`
	SubscriptionID int64     `json:"subscription_id"`
	ICCID          string    `json:"iccid"` // the card it was made on
	Kind           string    `json:"kind"`
	Amount         Money     `json:"amount"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	CreatedBy      string    `json:"created_by"`
	CreatedAt      time.Time `json:"created_at"`
}

// Voucher is a prepaid code worth an amount, redeemable once before it
// expires. Only the code's hash is stored.
type Voucher struct {
	ID        int64     `json:"id"`
	Amount    Money     `json:"amount"`
	ExpiresAt time.Time `json:"expires_at"`
	Batch     string    `json:"batch,omitempty"`
}

// voucherAlphabet has no 0/O or 1/I/L, which people misread on a card.
const voucherAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// NewVoucherCode returns a random code of 16 characters in four groups,
// like "7KQM-3XHP-RT9C-W2ZD": 79 bits, too many to guess online or offline.
func NewVoucherCode() string {
	var b [16]byte
	var sb strings.Builder
	// Rejection sampling keeps every character equally likely.
	for i := 0; i < len(b); {
		var r [32]byte
		_, _ = rand.Read(r[:])
		for _, c := range r {
			if i == len(b) {
				break
			}
			if int(c) < 256/len(voucherAlphabet)*len(voucherAlphabet) {
				b[i] = voucherAlphabet[int(c)%len(voucherAlphabet)]
				i++
			}
		}
	}
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// NormalizeVoucherCode upper-cases code and drops spaces and dashes, so
// "7kqm 3xhp-rt9c w2zd" is the code printed as "7KQM-3XHP-RT9C-W2ZD".
func NormalizeVoucherCode(code string) string {
	var sb strings.Builder
	for _, c := range strings.ToUpper(code) {
		if c != '-' && c != ' ' {
			sb.WriteRune(c)
		}
	}
	return sb.String()
}

// VoucherHash is what is stored of a code: SHA-256 of its normalized form.
// A code has 79 random bits, so a plain hash resists offline guessing.
func VoucherHash(code string) []byte {
	h := sha256.Sum256([]byte("simcore-voucher\x00" + NormalizeVoucherCode(code)))
	return h[:]
}
