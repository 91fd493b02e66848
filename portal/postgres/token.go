package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/portal"
)

// CreateToken stores a one-time token.
func (s *Store) CreateToken(ctx context.Context, t portal.OneTimeToken) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO portal_tokens (token_hash, kind, user_id, email, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		t.Hash, t.Kind, t.UserID, t.Email, t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create %s token: %w", t.Kind, err)
	}
	return nil
}

// useToken marks the token of kind with hash used, if it is unused and
// unexpired at now, and returns it; portal.ErrTokenInvalid. The UPDATE's
// row lock makes a second use of the same token wait and then find it used.
func useToken(ctx context.Context, tx pgx.Tx, kind portal.TokenKind, hash []byte, now time.Time) (portal.OneTimeToken, error) {
	t := portal.OneTimeToken{Kind: kind, Hash: hash}
	err := tx.QueryRow(ctx, `
		UPDATE portal_tokens SET used_at = $3
		WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3
		RETURNING user_id, email, expires_at`, hash, kind, now).Scan(&t.UserID, &t.Email, &t.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, portal.ErrTokenInvalid
	}
	return t, err
}

// ResetPassword uses the reset token with hash, sets the user's password
// hash, deletes every session and known device of the user and every
// other unused reset token, in one transaction, and returns the user's id;
// portal.ErrTokenInvalid.
func (s *Store) ResetPassword(ctx context.Context, tokenHash []byte, passwordHash string, now time.Time) (int64, error) {
	var user int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t, err := useToken(ctx, tx, portal.TokenPasswordReset, tokenHash, now)
		if err != nil {
			return err
		}
		user = t.UserID
		if _, err := tx.Exec(ctx, `UPDATE portal_users SET password_hash = $2, updated_at = now() WHERE id = $1`, user, passwordHash); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM portal_sessions WHERE user_id = $1`, user); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM portal_devices WHERE user_id = $1`, user); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE portal_tokens SET used_at = $2 WHERE user_id = $1 AND kind = 'password_reset' AND used_at IS NULL`, user, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("reset password: %w", err)
	}
	return user, nil
}

// ConfirmEmail uses the verification token with hash, makes its address
// the user's email and voids the user's unused password-reset tokens
// (mailed to the old address), in one transaction; portal.ErrTokenInvalid,
// portal.ErrEmailTaken (someone registered the address meanwhile; the
// token stays unused).
func (s *Store) ConfirmEmail(ctx context.Context, tokenHash []byte, now time.Time) (portal.User, error) {
	var u portal.User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t, err := useToken(ctx, tx, portal.TokenEmailVerification, tokenHash, now)
		if err != nil {
			return err
		}
		u, err = scanUser(tx.QueryRow(ctx, `UPDATE portal_users SET email = $2, updated_at = now() WHERE id = $1 RETURNING `+userColumns, t.UserID, t.Email))
		if uniqueViolation(err, "portal_users_email_key") {
			return portal.ErrEmailTaken
		}
		if err != nil {
			return err
		}
		// Reset links went to the old address: they must not outlive it.
		_, err = tx.Exec(ctx, `UPDATE portal_tokens SET used_at = $2 WHERE user_id = $1 AND kind = 'password_reset' AND used_at IS NULL`, t.UserID, now)
		return err
	})
	if err != nil {
		return portal.User{}, fmt.Errorf("confirm email: %w", err)
	}
	return u, nil
}
