package portal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Config configures Accounts. Zero durations and limits take the defaults
// below.
type Config struct {
	Store   Store
	Hasher  PasswordHasher
	Limiter Limiter
	Mailer  Mailer
	Log     *slog.Logger
	// LinkBase starts the links in emails, e.g. "https://portal.example";
	// the token follows as a fragment.
	LinkBase string

	SessionTTL time.Duration // default 30 days
	ResetTTL   time.Duration // default 1 hour
	VerifyTTL  time.Duration // default 24 hours
	// DeviceTTL is how long a device stays known after the login that
	// made it known; default 180 days. See Login.
	DeviceTTL time.Duration

	LoginPerAccount Limit // default 5 per 15 minutes
	LoginPerDevice  Limit // default 10 per 15 minutes, for a device the user has logged in from
	LoginPerAddress Limit // default 30 per 15 minutes
	// HashPerAddress bounds the registrations and password resets a client
	// address may ask for, each an argon2id hash with no session needed;
	// default 30 per 15 minutes.
	HashPerAddress Limit
	ForgotPerEmail Limit // default 3 per hour: no mail bombing through the form
	// EmailChangePerUser bounds the verification mails one user may have
	// sent to new addresses; default 5 per hour.
	EmailChangePerUser Limit
	CardPerUser        Limit // default 10 per hour
	CardPerSIM         Limit // default 5 per hour

	Now func() time.Time
}

// Validate checks cfg and fills defaults.
func (c *Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("portal: no store")
	case c.Hasher == nil:
		return errors.New("portal: no password hasher")
	case c.Limiter == nil:
		return errors.New("portal: no rate limiter")
	case c.Mailer == nil:
		return errors.New("portal: no mailer")
	case c.Log == nil:
		return errors.New("portal: no logger")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.SessionTTL, 30*24*time.Hour)
	def(&c.ResetTTL, time.Hour)
	def(&c.VerifyTTL, 24*time.Hour)
	def(&c.DeviceTTL, 180*24*time.Hour)
	lim := func(l *Limit, n int, w time.Duration) {
		if l.N <= 0 || l.Window <= 0 {
			*l = Limit{N: n, Window: w}
		}
	}
	lim(&c.LoginPerAccount, 5, 15*time.Minute)
	lim(&c.LoginPerDevice, 10, 15*time.Minute)
	lim(&c.LoginPerAddress, 30, 15*time.Minute)
	lim(&c.HashPerAddress, 30, 15*time.Minute)
	lim(&c.ForgotPerEmail, 3, time.Hour)
	lim(&c.EmailChangePerUser, 5, time.Hour)
	lim(&c.CardPerUser, 10, time.Hour)
	lim(&c.CardPerSIM, 5, time.Hour)
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Accounts carries out the account flows: registration, login and logout,
// password reset, profile, password and contact-email changes, and claiming
// SIM cards. Emails go out in the background, so a request that sends one
// takes as long as one that does not (forgot-password tells nobody whether
// an address is registered); Wait drains them.
type Accounts struct {
	cfg  Config
	mail sync.WaitGroup
	// dummy is a hash that a login for an unknown address is checked
	// against, so it costs as much as one for a registered address and its
	// timing does not tell which it was.
	dummy string
}

// New returns Accounts for cfg.
func New(cfg Config) (*Accounts, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dummy, err := cfg.Hasher.Hash("not anyone's password")
	if err != nil {
		return nil, fmt.Errorf("portal: hash: %w", err)
	}
	return &Accounts{cfg: cfg, dummy: dummy}, nil
}

// Wait returns when every email handed to the background has been sent or
// has failed.
func (a *Accounts) Wait() { a.mail.Wait() }

// Register creates a user. addr is the client's address: registrations
// that get as far as hashing the password count against it
// (HashPerAddress). Errors: ErrInvalid (a *FieldError), ErrEmailTaken,
// ErrRateLimited.
func (a *Accounts) Register(ctx context.Context, r Registration, addr string) (User, error) {
	if err := r.Validate(); err != nil {
		return User{}, err
	}
	if err := a.takeHash(ctx, "register", addr); err != nil {
		return User{}, err
	}
	hash, err := a.cfg.Hasher.Hash(r.Password)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	u := User{Email: r.Email, Name: r.Name, Language: r.Language}
	if err := a.cfg.Store.CreateUser(ctx, &u, hash); err != nil {
		return User{}, err
	}
	return u, nil
}

// limitKey names a rate-limit counter. Identifiers are hashed: the keys
// are not a list of who tried what.
func limitKey(scope, id string) string {
	h := sha256.Sum256([]byte(id))
	return "portal:" + scope + ":" + hex.EncodeToString(h[:12])
}

// addrLimitID is what per-address limits count for the client at addr:
// the address itself for IPv4, its /64 for IPv6. A subscriber line or
// host is given a whole /64 (RFC 6177), so counting single IPv6
// addresses would give one client 2^64 buckets.
func addrLimitID(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

// takeHash counts a password hash asked for by the client at addr, on a
// route anyone may call.
func (a *Accounts) takeHash(ctx context.Context, scope, addr string) error {
	return a.take(ctx, scope, limitKey("hash-addr", addrLimitID(addr)), a.cfg.HashPerAddress)
}

func (a *Accounts) take(ctx context.Context, scope, key string, l Limit) error {
	ok, retry, err := a.cfg.Limiter.Take(ctx, key, l)
	if err != nil {
		return fmt.Errorf("rate limit %s: %w", scope, err)
	}
	if !ok {
		return &RateLimitError{Scope: scope, RetryAfter: retry}
	}
	return nil
}

// Login checks email and password and opens a session. addr is the
// client's address (IPv6 clients count per /64, see addrLimitID). Every
// attempt counts against the address and against the account, so
// parallel guesses are limited too; a successful one is refunded to the
// account.
//
// device is the device token a successful login handed this client before
// ("" when none). When it is a known device of this very account, the
// attempt counts against that device (LoginPerDevice) instead of the
// account: whoever hammers the account with wrong passwords from elsewhere
// locks out the account's unknown clients but not its owner's own devices
// (OWASP's "device cookies"). A successful login from a client without a
// known device of the account makes it one: the Grant carries its new
// DeviceToken. Errors: ErrBadCredentials, ErrRateLimited.
func (a *Accounts) Login(ctx context.Context, email, password, addr, device string) (User, Grant, error) {
	if err := a.take(ctx, "login", limitKey("login-addr", addrLimitID(addr)), a.cfg.LoginPerAddress); err != nil {
		return User{}, Grant{}, err
	}
	norm, err := NormalizeEmail(email)
	if err != nil || len(password) > MaxPasswordLen {
		return User{}, Grant{}, ErrBadCredentials
	}
	key, limit, known, err := a.loginBucket(ctx, norm, device)
	if err != nil {
		return User{}, Grant{}, err
	}
	if err := a.take(ctx, "login", key, limit); err != nil {
		return User{}, Grant{}, err
	}
	u, hash, err := a.cfg.Store.UserByEmail(ctx, norm)
	if errors.Is(err, ErrUserNotFound) {
		_, _ = a.cfg.Hasher.Verify(password, a.dummy)
		return User{}, Grant{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, Grant{}, err
	}
	ok, err := a.cfg.Hasher.Verify(password, hash)
	if err != nil {
		return User{}, Grant{}, fmt.Errorf("verify password of user %d: %w", u.ID, err)
	}
	if !ok {
		return User{}, Grant{}, ErrBadCredentials
	}
	if err := a.cfg.Limiter.Refund(ctx, key); err != nil {
		a.cfg.Log.WarnContext(ctx, "refund login attempt", "err", err)
	}
	g, err := a.openSession(ctx, u.ID, hash)
	if err != nil {
		return User{}, Grant{}, err
	}
	if !known {
		// Not needed for this login, which has succeeded: a failure costs
		// the client its exemption from a lockout later, not the session.
		token, hash := NewToken()
		d := Device{UserID: u.ID, TokenHash: hash, ExpiresAt: a.cfg.Now().Add(a.cfg.DeviceTTL).UTC().Truncate(time.Microsecond)}
		if err := a.cfg.Store.AddDevice(ctx, d, MaxDevicesPerUser); err != nil {
			a.cfg.Log.WarnContext(ctx, "remember login device", "user", u.ID, "err", err)
		} else {
			g.DeviceToken, g.DeviceExpiresAt = token, d.ExpiresAt
		}
	}
	return u, g, nil
}

// MaxDevicesPerUser bounds the known devices kept per user; a new one
// pushes out the one known longest.
const MaxDevicesPerUser = 20

// loginBucket is the rate-limit counter a login attempt for the account
// with (normalised) email counts against: device's own when it is a known
// device of that account, else the account's. known tells which.
func (a *Accounts) loginBucket(ctx context.Context, email, device string) (key string, l Limit, known bool, err error) {
	if WellFormedToken(device) {
		h := HashToken(device)
		owner, err := a.cfg.Store.DeviceOwner(ctx, h, a.cfg.Now())
		if err != nil {
			return "", Limit{}, false, err
		}
		if owner == email { // never "" (NormalizeEmail)
			return limitKey("login-device", device), a.cfg.LoginPerDevice, true, nil
		}
	}
	return limitKey("login-account", email), a.cfg.LoginPerAccount, false, nil
}

func (a *Accounts) openSession(ctx context.Context, user int64, passwordHash string) (Grant, error) {
	token, hash := NewToken()
	csrf, csrfHash := NewToken()
	s := Session{UserID: user, TokenHash: hash, CSRFHash: csrfHash, PasswordHash: passwordHash, ExpiresAt: a.cfg.Now().Add(a.cfg.SessionTTL).UTC().Truncate(time.Microsecond)}
	if err := a.cfg.Store.CreateSession(ctx, &s); err != nil {
		return Grant{}, err
	}
	return Grant{Token: token, CSRFToken: csrf, ExpiresAt: s.ExpiresAt}, nil
}

// Authenticate returns the live session with token and its user;
// ErrUnauthenticated.
func (a *Accounts) Authenticate(ctx context.Context, token string) (Session, User, error) {
	if !WellFormedToken(token) {
		return Session{}, User{}, ErrUnauthenticated
	}
	return a.cfg.Store.Session(ctx, HashToken(token), a.cfg.Now())
}

// Logout ends session s.
func (a *Accounts) Logout(ctx context.Context, s Session) error {
	return a.cfg.Store.DeleteSession(ctx, s.TokenHash)
}

// UpdateProfile changes the user's name and/or language. Errors:
// ErrInvalid, ErrUserNotFound.
func (a *Accounts) UpdateProfile(ctx context.Context, user int64, ch ProfileChange) (User, error) {
	if err := ch.Validate(); err != nil {
		return User{}, err
	}
	return a.cfg.Store.UpdateProfile(ctx, user, ch)
}

// ChangePassword sets a new password when current is right, and ends the
// user's other sessions. Guesses at the current password are limited like
// logins, in a bucket of the user's own: strangers failing to log in to
// the account must not stop its owner from changing the password. Errors:
// ErrInvalid, ErrWrongPassword, ErrRateLimited.
func (a *Accounts) ChangePassword(ctx context.Context, s Session, current, next string) error {
	if err := ValidatePassword("new_password", next); err != nil {
		return err
	}
	u, hash, err := a.cfg.Store.User(ctx, s.UserID)
	if err != nil {
		return err
	}
	key := limitKey("password-change", strconv.FormatInt(u.ID, 10))
	if err := a.take(ctx, "password", key, a.cfg.LoginPerAccount); err != nil {
		return err
	}
	if len(current) > MaxPasswordLen {
		return ErrWrongPassword
	}
	ok, err := a.cfg.Hasher.Verify(current, hash)
	if err != nil {
		return fmt.Errorf("verify password of user %d: %w", u.ID, err)
	}
	if !ok {
		return ErrWrongPassword
	}
	_ = a.cfg.Limiter.Refund(ctx, key)
	newHash, err := a.cfg.Hasher.Hash(next)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return a.cfg.Store.SetPassword(ctx, u.ID, newHash, s.TokenHash)
}
