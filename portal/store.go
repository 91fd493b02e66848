package portal

import (
	"context"
	"time"
)

// Store keeps users, sessions, one-time tokens and SIM ownership
// (portal/postgres).
type Store interface {
	// CreateUser stores u with passwordHash, filling ID, CreatedAt and
	// UpdatedAt; ErrEmailTaken.
	CreateUser(ctx context.Context, u *User, passwordHash string) error
	// UserByEmail returns the user with email and the user's password
	// hash; ErrUserNotFound.
	UserByEmail(ctx context.Context, email string) (User, string, error)
	// User returns user id and the password hash; ErrUserNotFound.
	User(ctx context.Context, id int64) (User, string, error)
	// UpdateProfile applies ch; ErrUserNotFound.
	UpdateProfile(ctx context.Context, id int64, ch ProfileChange) (User, error)
	// SetPassword replaces the password hash and deletes the user's
	// sessions except the one with hash keep (nil: all) and the user's
	// known devices; ErrUserNotFound.
	SetPassword(ctx context.Context, id int64, hash string, keep []byte) error

	// CreateSession stores s, filling ID and CreatedAt.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session with token hash, unexpired at now, and
	// its user; ErrUnauthenticated.
	Session(ctx context.Context, hash []byte, now time.Time) (Session, User, error)
	// DeleteSession deletes the session with token hash; deleting one that
	// does not exist is not an error.
	DeleteSession(ctx context.Context, hash []byte) error

	// AddDevice stores d as a known device of its user and deletes the
	// user's devices beyond the keep most recently added.
	AddDevice(ctx context.Context, d Device, keep int) error
	// DeviceOwner returns the email of the user whose device, unexpired
	// at now, has token hash; "" when there is none.
	DeviceOwner(ctx context.Context, hash []byte, now time.Time) (string, error)

	// CreateToken stores a one-time token.
	CreateToken(ctx context.Context, t OneTimeToken) error
	// ResetPassword uses the reset token with hash (unused, unexpired at
	// now), sets the user's password hash and deletes all the user's
	// sessions and known devices, in one transaction; ErrTokenInvalid.
	ResetPassword(ctx context.Context, tokenHash []byte, passwordHash string, now time.Time) (int64, error)
	// ConfirmEmail uses the verification token with hash and sets the
	// user's email to the token's, in one transaction; ErrTokenInvalid,
	// ErrEmailTaken.
	ConfirmEmail(ctx context.Context, tokenHash []byte, now time.Time) (User, error)

	// ClaimSIM puts iccid on user's account: ErrSIMAlreadyAdded when it is
	// there, ErrActivationFailed when another user has it.
	ClaimSIM(ctx context.Context, user int64, iccid string) error
	// ReleaseSIM takes iccid off user's account; ErrSIMNotOwned.
	ReleaseSIM(ctx context.Context, user int64, iccid string) error
	// SIMs lists the user's SIMs in the order they were added.
	SIMs(ctx context.Context, user int64) ([]OwnedSIM, error)
	// OwnsSIM reports whether iccid is on user's account.
	OwnsSIM(ctx context.Context, user int64, iccid string) (bool, error)
}

// OwnedSIM is a SIM on a user's account.
type OwnedSIM struct {
	ICCID   string
	AddedAt time.Time
}

// PasswordHasher hashes passwords for storage and checks them
// (portal/argon2id).
type PasswordHasher interface {
	// Hash returns the encoded hash of password.
	Hash(password string) (string, error)
	// Verify reports whether password matches encoded, in constant time.
	// A malformed encoded hash is an error.
	Verify(password, encoded string) (bool, error)
}

// Limiter counts attempts per key in fixed windows (portal/redis).
type Limiter interface {
	// Take counts one attempt under key and reports whether it is within
	// l; when it is not, retryAfter is how long until the window ends.
	Take(ctx context.Context, key string, l Limit) (ok bool, retryAfter time.Duration, err error)
	// Refund takes back one attempt under key (a login that succeeded).
	Refund(ctx context.Context, key string) error
}

// Limit is at most N attempts per Window.
type Limit struct {
	N      int
	Window time.Duration
}

// Email is one message to a user.
type Email struct {
	To      string
	Subject string
	Text    string
}

// Mailer sends email (workers/email, adapted in cmd).
type Mailer interface {
	SendEmail(ctx context.Context, e Email) error
}

// CardVerifier checks the activation code printed on a SIM card against
// the inventory (provisioning, adapted in portal/http).
type CardVerifier interface {
	// VerifyCard reports whether code is the activation code of card
	// iccid; false for a card not in the inventory or retired.
	VerifyCard(ctx context.Context, iccid, code string) (bool, error)
}
