package portal

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ForgotPassword sends a password-reset token to email if a user has it.
// It returns nil whether or not the address is registered, and the email
// goes out in the background, so neither the answer nor its timing tells.
// addr is the client's address. Errors: ErrRateLimited (per address, and
// per email address so the form cannot flood a mailbox; the latter answers
// for registered and unknown addresses alike).
func (a *Accounts) ForgotPassword(ctx context.Context, email, addr string) error {
	if err := a.take(ctx, "forgot", limitKey("login-addr", addrLimitID(addr)), a.cfg.LoginPerAddress); err != nil {
		return err
	}
	norm, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	if err := a.take(ctx, "forgot", limitKey("forgot-email", norm), a.cfg.ForgotPerEmail); err != nil {
		return err
	}
	u, _, err := a.cfg.Store.UserByEmail(ctx, norm)
	if errors.Is(err, ErrUserNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	token, hash := NewToken()
	t := OneTimeToken{Kind: TokenPasswordReset, Hash: hash, UserID: u.ID, ExpiresAt: a.cfg.Now().Add(a.cfg.ResetTTL)}
	if err := a.cfg.Store.CreateToken(ctx, t); err != nil {
		return err
	}
	a.send(ctx, u.Email, resetMail(u.Language, a.cfg.LinkBase, token, a.cfg.ResetTTL))
	return nil
}

// ResetPassword sets a new password with a reset token and ends every
// session of the user. The password is hashed before the store finds out
// whether the token is known, so attempts count against the client's
// address addr (HashPerAddress). Errors: ErrInvalid, ErrTokenInvalid,
// ErrRateLimited.
func (a *Accounts) ResetPassword(ctx context.Context, token, password, addr string) error {
	if err := ValidatePassword("password", password); err != nil {
		return err
	}
	if !WellFormedToken(token) {
		return ErrTokenInvalid
	}
	if err := a.takeHash(ctx, "reset", addr); err != nil {
		return err
	}
	hash, err := a.cfg.Hasher.Hash(password)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	_, err = a.cfg.Store.ResetPassword(ctx, HashToken(token), hash, a.cfg.Now())
	return err
}

// RequestEmailChange sends a verification token to the new address; the
// contact email changes only when the token comes back (VerifyEmail).
// Each user may have EmailChangePerUser mails sent, each address
// ForgotPerEmail. Errors: ErrInvalid, ErrEmailTaken, ErrRateLimited.
func (a *Accounts) RequestEmailChange(ctx context.Context, user int64, email string) error {
	norm, err := newEmail(email)
	if err != nil {
		return err
	}
	u, _, err := a.cfg.Store.User(ctx, user)
	if err != nil {
		return err
	}
	if norm == u.Email {
		return fieldErr("email", "is already your address")
	}
	if _, _, err := a.cfg.Store.UserByEmail(ctx, norm); err == nil {
		return ErrEmailTaken
	} else if !errors.Is(err, ErrUserNotFound) {
		return err
	}
	if err := a.take(ctx, "email change", limitKey("email-change-user", strconv.FormatInt(u.ID, 10)), a.cfg.EmailChangePerUser); err != nil {
		return err
	}
	if err := a.take(ctx, "email change", limitKey("forgot-email", norm), a.cfg.ForgotPerEmail); err != nil {
		return err
	}
	token, hash := NewToken()
	t := OneTimeToken{Kind: TokenEmailVerification, Hash: hash, UserID: u.ID, Email: norm, ExpiresAt: a.cfg.Now().Add(a.cfg.VerifyTTL)}
	if err := a.cfg.Store.CreateToken(ctx, t); err != nil {
		return err
	}
	a.send(ctx, norm, verifyMail(u.Language, a.cfg.LinkBase, token, a.cfg.VerifyTTL))
	return nil
}

// VerifyEmail makes the address a verification token was sent to the
// user's contact email. Errors: ErrTokenInvalid, ErrEmailTaken.
func (a *Accounts) VerifyEmail(ctx context.Context, token string) (User, error) {
	if !WellFormedToken(token) {
		return User{}, ErrTokenInvalid
	}
	return a.cfg.Store.ConfirmEmail(ctx, HashToken(token), a.cfg.Now())
}

// mailTimeout bounds one background send.
const mailTimeout = time.Minute

// send mails e in the background. The request's context values (its
// request id, for logs) are kept, its cancellation is not: the client
// hanging up must not lose the email.
func (a *Accounts) send(ctx context.Context, to string, m mailText) {
	ctx = context.WithoutCancel(ctx)
	a.mail.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, mailTimeout)
		defer cancel()
		if err := a.cfg.Mailer.SendEmail(ctx, Email{To: to, Subject: m.subject, Text: m.text}); err != nil {
			// The error names no token; the address stays out of the log.
			a.cfg.Log.ErrorContext(ctx, "send account email", "kind", m.kind, "err", err)
		}
	})
}
