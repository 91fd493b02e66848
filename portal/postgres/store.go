package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/portal"
)

// Store implements portal.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

var _ portal.Store = (*Store)(nil)

// New returns a store on pool; the schema must be migrated (Migrate).
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const codeUniqueViolation = "23505"

func uniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == codeUniqueViolation && pe.ConstraintName == constraint
}

const userColumns = `id, email, name, language, created_at, updated_at`

func scanUser(row pgx.Row, extra ...any) (portal.User, error) {
	var u portal.User
	err := row.Scan(append([]any{&u.ID, &u.Email, &u.Name, &u.Language, &u.CreatedAt, &u.UpdatedAt}, extra...)...)
	return u, err
}

// CreateUser stores u with passwordHash and fills its ID, CreatedAt and
// UpdatedAt; portal.ErrEmailTaken.
func (s *Store) CreateUser(ctx context.Context, u *portal.User, passwordHash string) error {
	err := s.pool.QueryRow(ctx, `
		INSERT INTO portal_users (email, name, language, password_hash) VALUES ($1, $2, $3, $4)
		RETURNING id, created_at, updated_at`, u.Email, u.Name, u.Language, passwordHash).
		Scan(&u.ID, &u.CreatedAt, &u.UpdatedAt)
	if uniqueViolation(err, "portal_users_email_key") {
		return fmt.Errorf("create user: %w", portal.ErrEmailTaken)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// UserByEmail returns the user with email (as stored: lower case) and the
// password hash; portal.ErrUserNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (portal.User, string, error) {
	var hash string
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM portal_users WHERE email = $1`, email), &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return portal.User{}, "", fmt.Errorf("user by email: %w", portal.ErrUserNotFound)
	}
	if err != nil {
		return portal.User{}, "", fmt.Errorf("user by email: %w", err)
	}
	return u, hash, nil
}

// User returns user id and the password hash; portal.ErrUserNotFound.
func (s *Store) User(ctx context.Context, id int64) (portal.User, string, error) {
	var hash string
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM portal_users WHERE id = $1`, id), &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return portal.User{}, "", fmt.Errorf("user %d: %w", id, portal.ErrUserNotFound)
	}
	if err != nil {
		return portal.User{}, "", fmt.Errorf("user %d: %w", id, err)
	}
	return u, hash, nil
}

// UpdateProfile sets the fields of ch that are not nil;
// portal.ErrUserNotFound.
func (s *Store) UpdateProfile(ctx context.Context, id int64, ch portal.ProfileChange) (portal.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `
		UPDATE portal_users SET name = coalesce($2, name), language = coalesce($3, language), updated_at = now()
		WHERE id = $1 RETURNING `+userColumns, id, ch.Name, ch.Language))
	if errors.Is(err, pgx.ErrNoRows) {
		return portal.User{}, fmt.Errorf("update user %d: %w", id, portal.ErrUserNotFound)
	}
	if err != nil {
		return portal.User{}, fmt.Errorf("update user %d: %w", id, err)
	}
	return u, nil
}

// SetPassword replaces the password hash and deletes the user's sessions
// but the one with token hash keep, and the user's known devices (a device
// that logged in with the old password, an intruder's perhaps, must not
// keep its own allowance of guesses at the new one), and voids the user's
// unused password-reset links (one mailed before the change would undo
// it), in one transaction; portal.ErrUserNotFound.
func (s *Store) SetPassword(ctx context.Context, id int64, hash string, keep []byte) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE portal_users SET password_hash = $2, updated_at = now() WHERE id = $1`, id, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return portal.ErrUserNotFound
		}
		_, err = tx.Exec(ctx, `DELETE FROM portal_sessions WHERE user_id = $1 AND ($2::bytea IS NULL OR token_hash <> $2)`, id, keep)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM portal_devices WHERE user_id = $1`, id)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE portal_tokens SET used_at = now() WHERE user_id = $1 AND kind = 'password_reset' AND used_at IS NULL`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("set password of user %d: %w", id, err)
	}
	return nil
}

// CreateSession stores sess and fills its ID and CreatedAt.
func (s *Store) CreateSession(ctx context.Context, sess *portal.Session) error {
	// With the password hash the login checked, the session is opened
	// only while the user still has it. FOR SHARE waits for a password
	// change or reset in progress (they update the user's row first) and
	// then sees its hash, so the login is refused; or the change waits
	// for this insert, and then its delete of the user's sessions sees it.
	err := s.pool.QueryRow(ctx, `
		WITH u AS (SELECT id FROM portal_users WHERE id = $1 AND ($5::text IS NULL OR password_hash = $5) FOR SHARE)
		INSERT INTO portal_sessions (user_id, token_hash, csrf_hash, expires_at) SELECT id, $2, $3, $4 FROM u
		RETURNING id, created_at`, sess.UserID, sess.TokenHash, sess.CSRFHash, sess.ExpiresAt, nullIfEmpty(sess.PasswordHash)).
		Scan(&sess.ID, &sess.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		// The password changed since the login checked it (or the user
		// is gone).
		return fmt.Errorf("create session: %w", portal.ErrBadCredentials)
	}
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// Session returns the session with token hash that has not expired at now,
// with its user; portal.ErrUnauthenticated.
func (s *Store) Session(ctx context.Context, hash []byte, now time.Time) (portal.Session, portal.User, error) {
	sess := portal.Session{TokenHash: hash}
	u, err := scanUser(s.pool.QueryRow(ctx, `
		SELECT u.id, u.email, u.name, u.language, u.created_at, u.updated_at,
		       s.id, s.csrf_hash, s.created_at, s.expires_at
		FROM portal_sessions s JOIN portal_users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > $2`, hash, now),
		&sess.ID, &sess.CSRFHash, &sess.CreatedAt, &sess.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return portal.Session{}, portal.User{}, portal.ErrUnauthenticated
	}
	if err != nil {
		return portal.Session{}, portal.User{}, fmt.Errorf("session: %w", err)
	}
	sess.UserID = u.ID
	return sess, u, nil
}

// DeleteSession deletes the session with token hash, if there is one.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM portal_sessions WHERE token_hash = $1`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// AddDevice stores d and deletes its user's devices beyond the keep most
// recently added, in one transaction.
func (s *Store) AddDevice(ctx context.Context, d portal.Device, keep int) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO portal_devices (user_id, token_hash, expires_at) VALUES ($1, $2, $3)`,
			d.UserID, d.TokenHash, d.ExpiresAt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			DELETE FROM portal_devices WHERE user_id = $1 AND seq <= (
				SELECT seq FROM portal_devices WHERE user_id = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)`,
			d.UserID, keep)
		return err
	})
	if err != nil {
		return fmt.Errorf("add device of user %d: %w", d.UserID, err)
	}
	return nil
}

// DeviceOwner returns the email of the user whose device has token hash
// and has not expired at now; "" when there is none.
func (s *Store) DeviceOwner(ctx context.Context, hash []byte, now time.Time) (string, error) {
	var email string
	err := s.pool.QueryRow(ctx, `
		SELECT u.email FROM portal_devices d JOIN portal_users u ON u.id = d.user_id
		WHERE d.token_hash = $1 AND d.expires_at > $2`, hash, now).Scan(&email)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("device owner: %w", err)
	}
	return email, nil
}

// DeleteExpired deletes sessions, tokens and devices that expired before
// now and returns how many rows went.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	for _, q := range []string{
		`DELETE FROM portal_sessions WHERE expires_at <= $1`,
		`DELETE FROM portal_tokens WHERE expires_at <= $1`,
		`DELETE FROM portal_devices WHERE expires_at <= $1`,
	} {
		tag, err := s.pool.Exec(ctx, q, now)
		if err != nil {
			return n, fmt.Errorf("delete expired: %w", err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
