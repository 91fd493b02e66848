// Package postgres keeps rating's state in PostgreSQL: the catalogue
// versions, vouchers, credits, charges, alerts and barring requests. It
// reads metering's usage_batches (the ledger of stored usage, in the same
// database) to learn whose usage changed.
package postgres

import (
	"context"
	"embed"
	"io/fs"

	"github.com/simcore/simcore/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable is the goose version table of rating's migrations.
const VersionTable = "goose_rating_version"

// migrateLockID is the advisory lock of rating's migrators, distinct from
// metering's and provisioning's.
const migrateLockID = 0x51_6d_63_03

// Migrate applies rating's PostgreSQL migrations to the database at url.
func Migrate(ctx context.Context, url string) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	return migrate.Postgres(ctx, "rating", url, sub, VersionTable, migrateLockID)
}

// MigrationsVersion is a hash of the embedded migrations.
func MigrationsVersion() string { return migrate.Version(migrations) }

// LatestMigration is the version of the newest migration this binary
// carries: a database whose version table holds a higher one was migrated
// by a newer simcore.
func LatestMigration() int64 { return migrate.Latest(migrations) }
