package postgres

import (
	"context"
	"embed"
	"io/fs"

	"github.com/simcore/simcore/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable is the goose version table of the portal's migrations; each
// domain keeps its own so their migrations version independently.
const VersionTable = "goose_portal_version"

// migrateLockID is the session advisory lock of the portal's migrators,
// distinct from metering's (0x516d6301) and provisioning's (0x516d6302);
// the last byte is the portal's issue number, leaving the ones between to
// other domains. (A clash would only make two migrators wait in turn.)
const migrateLockID = 0x51_6d_63_06

// Migrate applies the portal's PostgreSQL migrations to the database at
// url. A session advisory lock keeps concurrent migrators apart.
func Migrate(ctx context.Context, url string) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	return migrate.Postgres(ctx, "portal", url, sub, VersionTable, migrateLockID)
}

// MigrationsVersion is a hash of the embedded migrations, so test templates
// are rebuilt when a migration changes.
func MigrationsVersion() string { return migrate.Version(migrations) }

// LatestMigration is the version of the newest migration this binary
// carries: a database whose version table holds a higher one was migrated
// by a newer simcore.
func LatestMigration() int64 { return migrate.Latest(migrations) }
