package provisioning

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
)

// ErrNoActivationKey is returned when no key is configured for hashing
// activation codes.
var ErrNoActivationKey = errors.New("no activation-code key configured")

// ActivationHasher hashes the activation codes printed on SIM cards. The
// codes are short and guessable offline, so a plain hash in the database
// would fall to brute force if the database leaked; a keyed hash
// (HMAC-SHA256 with a key kept outside the database, SIMCORE_ACTIVATION_KEY)
// does not, and stays fast enough to import a million cards. Comparison is
// constant-time.
type ActivationHasher struct{ key []byte }

// NewActivationHasher returns a hasher with key (at least 16 bytes).
func NewActivationHasher(key []byte) (*ActivationHasher, error) {
	if len(key) < 16 {
		return nil, ErrNoActivationKey
	}
	return &ActivationHasher{key: append([]byte(nil), key...)}, nil
}

// Hash returns the keyed hash of code for the card iccid.
func (h *ActivationHasher) Hash(iccid, code string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(iccid))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// Verify reports whether code matches the stored hash for iccid.
func (h *ActivationHasher) Verify(iccid, code string, stored []byte) bool {
	return hmac.Equal(h.Hash(iccid, code), stored)
}
