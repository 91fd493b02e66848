// Package migrate runs a domain's embedded goose migrations against
// PostgreSQL and hashes them for test templates. Each domain keeps its own
// version table and lock, so domains migrate independently. It imports no
// simcore package.
package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

// Postgres applies the migrations in fsys (SQL files at its root) to the
// database at url, recording them in table, under a session advisory lock
// lockID so concurrent migrators wait for each other. name labels errors.
func Postgres(ctx context.Context, name, url string, fsys fs.FS, table string, lockID int64) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parse postgres url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	store, err := database.NewStore(database.DialectPostgres, table)
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID))
	if err != nil {
		return err
	}
	p, err := goose.NewProvider("", db, fsys, goose.WithStore(store), goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("%s postgres migrations: %w", name, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("%s postgres migrate: %w", name, err)
	}
	return nil
}

// Version is a hash of every file in fsys, so test templates are rebuilt
// when a migration changes.
func Version(fsys fs.FS) string {
	h := sha256.New()
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		h.Write([]byte(p))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Latest is the highest migration version in fsys (goose's number at the
// start of each file name): the schema version this binary migrates to.
func Latest(fsys fs.FS) int64 {
	var latest int64
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if v, err := goose.NumericComponent(d.Name()); err == nil && v > latest {
			latest = v
		}
		return nil
	})
	return latest
}
