package postgres

import (
	"context"
	"database/sql"
	"io/fs"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/simcore/simcore/internal/testenv"
)

// TestKindCheckValidatedWhileRequestsAreWritten: widening the request
// kind check for bar_outgoing validated it over the whole request history
// under the table's exclusive lock, so on a large history every
// provisioning write waited for the scan. The check now goes on NOT VALID
// and is validated in a migration of its own, which must finish while a
// request is being written (an open transaction holding a row lock on the
// table), under a lock_timeout that an exclusive lock would run into.
func TestKindCheckValidatedWhileRequestsAreWritten(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, time.Minute)
	url := testenv.Postgres(t, "empty", "0", func(context.Context, string) error { return nil })
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["lock_timeout"] = "3s"
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	store, err := database.NewStore(database.DialectPostgres, VersionTable)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider("", db, sub, goose.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 7); err != nil {
		t.Fatalf("migrate to 00007: %v", err)
	}

	validated := func() bool {
		t.Helper()
		var v bool
		if err := db.QueryRowContext(ctx, "SELECT convalidated FROM pg_constraint WHERE conname = 'provisioning_requests_kind_check'").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if validated() {
		t.Fatal("00007 validated the kind check itself: the scan of the request history ran under its exclusive lock")
	}

	writer, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	tx, err := writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// A write in flight: ROW EXCLUSIVE on provisioning_requests until the
	// transaction ends, as every request insert and update holds.
	if _, err := tx.ExecContext(ctx, "LOCK TABLE provisioning_requests IN ROW EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("the validating migration waited for a request write (lock_timeout): %v", err)
	}
	if !validated() {
		t.Fatal("the kind check is still not validated after every migration")
	}
}
