package portal

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"time"
)

// TokenBytes is the entropy of session, CSRF, reset and verification
// tokens.
const TokenBytes = 32

// tokenLen is the length of a token in its text form (base64url, no
// padding).
var tokenLen = base64.RawURLEncoding.EncodedLen(TokenBytes)

// NewToken returns a random opaque token (32 bytes, base64url) and the hash
// under which it is stored. The token itself is never stored, so a leaked
// database does not log anyone in.
func NewToken() (token string, hash []byte) {
	var b [TokenBytes]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is the SHA-256 of a token's text: tokens are random and long,
// so a fast unsalted hash is enough to make the stored form useless.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// WellFormedToken reports whether s could be a token NewToken made, so
// garbage is refused before it reaches the store.
func WellFormedToken(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// Session is a logged-in user's session. Only hashes of its token and of
// its CSRF token are kept.
type Session struct {
	ID        int64
	UserID    int64
	TokenHash []byte
	CSRFHash  []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	// PasswordHash, when set, is the password hash the login checked:
	// CreateSession opens the session only while the user still has it,
	// so a login that raced a password change or reset cannot outlive it.
	PasswordHash string
}

// CheckCSRF reports whether token is the session's CSRF token, in constant
// time.
func (s Session) CheckCSRF(token string) bool {
	if !WellFormedToken(token) || len(s.CSRFHash) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare(HashToken(token), s.CSRFHash) == 1
}

// Grant is what a login hands the client: the session token, the CSRF token
// that cookie-authenticated writes must echo, and when both expire.
type Grant struct {
	Token     string    `json:"token"`
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
	// DeviceToken, when set, makes this client a known device of the
	// user until DeviceExpiresAt: a client that sends it with its logins
	// is not locked out by failures elsewhere (Accounts.Login).
	DeviceToken     string    `json:"device_token,omitempty"`
	DeviceExpiresAt time.Time `json:"-"`
}

// Device is a client a user has logged in from. Only the hash of its
// token is kept.
type Device struct {
	UserID    int64
	TokenHash []byte
	ExpiresAt time.Time
}

// TokenKind is what a one-time token is for.
type TokenKind string

// One-time token kinds.
const (
	TokenPasswordReset     TokenKind = "password_reset"
	TokenEmailVerification TokenKind = "email_verification"
)

// OneTimeToken is a single-use, expiring token sent by email: a password
// reset, or the verification of a new contact address (Email).
type OneTimeToken struct {
	Kind      TokenKind
	Hash      []byte
	UserID    int64
	Email     string // the new address, for TokenEmailVerification
	ExpiresAt time.Time
}
