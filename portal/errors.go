package portal

import (
	"errors"
	"fmt"
	"time"
)

// Errors of the portal domain, matched with errors.Is. portal/http maps each
// to an HTTP status and a stable error code.
var (
	// ErrInvalid is matched by every *FieldError.
	ErrInvalid = errors.New("invalid input")
	// ErrEmailTaken: another user has the address.
	ErrEmailTaken = errors.New("email address already registered")
	// ErrBadCredentials: unknown email or wrong password at login. The two
	// are one error so a login does not tell whether an address is
	// registered.
	ErrBadCredentials = errors.New("wrong email or password")
	// ErrUnauthenticated: no session, or an expired or revoked one.
	ErrUnauthenticated = errors.New("not logged in")
	// ErrCSRF: a cookie-authenticated write without the session's CSRF token.
	ErrCSRF = errors.New("missing or wrong CSRF token")
	// ErrWrongPassword: the current password given to change it is wrong.
	ErrWrongPassword = errors.New("current password is wrong")
	// ErrTokenInvalid: a reset or verification token that is unknown,
	// used or expired. Which of the three is not told.
	ErrTokenInvalid = errors.New("token is invalid, used or expired")
	// ErrUserNotFound: no such user.
	ErrUserNotFound = errors.New("user not found")
	// ErrSIMNotOwned: the SIM is not on the user's account. A SIM on
	// another user's account is not found either: no one learns who has
	// which card.
	ErrSIMNotOwned = errors.New("sim not found")
	// ErrSIMAlreadyAdded: the user has already added the SIM.
	ErrSIMAlreadyAdded = errors.New("sim already on this account")
	// ErrActivationFailed: the ICCID and activation code do not open a
	// card the user may claim: an unknown card, a wrong code, or a card
	// another user has claimed. One error for all three, so a wrong guess
	// learns nothing.
	ErrActivationFailed = errors.New("iccid and activation code do not match a card you can add")
	// ErrRateLimited is matched by every *RateLimitError.
	ErrRateLimited = errors.New("too many attempts")
)

// FieldError names the input field that breaks a rule. It matches
// ErrInvalid.
type FieldError struct {
	Field  string // JSON field name, snake_case
	Reason string // for people
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Is reports whether target is ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// RateLimitError says an action is refused until RetryAfter has passed. It
// matches ErrRateLimited.
type RateLimitError struct {
	Scope      string // what was limited: "login", "activation", ...
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many %s attempts: retry after %s", e.Scope, e.RetryAfter.Round(time.Second))
}

// Is reports whether target is ErrRateLimited.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }
