package clickhouse

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/simcore/simcore/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// VersionTable is goose's version table in the ClickHouse database.
const VersionTable = "goose_db_version"

// querier is goose's ClickHouse dialect rewritten for ClickHouse 18.16.
// goose's own inserts the version with `INSERT ... VALUES ($1, $2)` through
// database/sql, which hangs against 18.16 (the server waits for data blocks
// that the driver never sends), and deletes with `SETTINGS mutations_sync`,
// which 18.16 does not know. `INSERT ... SELECT` works on every version.
type querier struct{}

func (querier) CreateTable(t string) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (version_id Int64, is_applied UInt8, tstamp DateTime DEFAULT now()) ENGINE = MergeTree() ORDER BY (version_id)`, t)
}

func (querier) InsertVersion(t string) string {
	return fmt.Sprintf(`INSERT INTO %s (version_id, is_applied) SELECT toInt64(?), toUInt8(?)`, t)
}

func (querier) DeleteVersion(t string) string {
	return fmt.Sprintf(`ALTER TABLE %s DELETE WHERE version_id = ?`, t)
}

func (querier) GetMigrationByVersion(t string) string {
	return fmt.Sprintf(`SELECT tstamp, is_applied FROM %s WHERE version_id = ? ORDER BY tstamp DESC LIMIT 1`, t)
}

func (querier) ListMigrations(t string) string {
	return fmt.Sprintf(`SELECT version_id, is_applied FROM %s ORDER BY version_id DESC`, t)
}

func (querier) GetLatestVersion(t string) string {
	return fmt.Sprintf(`SELECT max(version_id) FROM %s`, t)
}

// Migrate creates cfg.Database if needed and applies the ClickHouse
// migrations. It returns the version reached.
func Migrate(ctx context.Context, cfg Config) (int64, error) {
	if err := CreateDatabase(ctx, cfg); err != nil {
		return 0, err
	}
	db := ch.OpenDB(cfg.options(cfg.Database))
	defer db.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	store, err := database.NewStoreFromQuerier(VersionTable, querier{})
	if err != nil {
		return 0, err
	}
	p, err := goose.NewProvider("", db, sub, goose.WithStore(store))
	if err != nil {
		return 0, fmt.Errorf("clickhouse migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("clickhouse migrate %s: %w", cfg.Database, err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("clickhouse migration version: %w", err)
	}
	return v, nil
}

// MigrationsVersion is a hash of the embedded migrations, so test templates
// are rebuilt when a migration changes.
func MigrationsVersion() string { return migrate.Version(migrations) }

// LatestMigration is the version of the newest migration this binary
// carries: a database whose version table holds a higher one was migrated
// by a newer simcore.
func LatestMigration() int64 { return migrate.Latest(migrations) }
