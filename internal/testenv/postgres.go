package testenv

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// templateLock serialises template (re)creation and cloning across test
// processes: `go test ./...` runs packages in parallel.
const templateLock int64 = 0x7465_7374_656e_7601

var templates sync.Map // name+version → struct{}: checked in this process

// Postgres returns the URL of a new database of the test's own, cloned from
// a template that migrate brought up to date. version identifies the
// migrations (a hash of their files) and is part of the template's name, so
// test runs of checkouts with different migrations (parallel worktrees, a
// branch switch) never rebuild a template another run is cloning from.
// The database is dropped when the test ends.
func Postgres(t testing.TB, name, version string, migrate func(ctx context.Context, url string) error) string {
	t.Helper()
	base := Require(t, "SIMCORE_POSTGRES_URL")
	Dial(t, "PostgreSQL", hostPort(t, base))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		Fatalf(t, "testenv: connect to PostgreSQL at %s: %v", hostPort(t, base), err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLock); err != nil {
		t.Fatalf("testenv: template lock: %v", err)
	}
	defer admin.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", templateLock)

	tmpl := "tmpl_" + name + "_" + templateSuffix(version)
	key := tmpl + "@" + version
	if _, ok := templates.Load(key); !ok {
		var comment *string
		err := admin.QueryRow(ctx, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", tmpl).Scan(&comment)
		if err != nil && err != pgx.ErrNoRows {
			t.Fatalf("testenv: look up template %s: %v", tmpl, err)
		}
		if err == pgx.ErrNoRows || comment == nil || *comment != version {
			if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+tmpl+" WITH (FORCE)"); err != nil {
				t.Fatalf("testenv: drop template %s: %v", tmpl, err)
			}
			if _, err := admin.Exec(ctx, "CREATE DATABASE "+tmpl); err != nil {
				t.Fatalf("testenv: create template %s: %v", tmpl, err)
			}
			if err := migrate(ctx, withDatabase(t, base, tmpl)); err != nil {
				t.Fatalf("testenv: migrate template %s: %v", tmpl, err)
			}
			if _, err := admin.Exec(ctx, fmt.Sprintf("COMMENT ON DATABASE %s IS '%s'", tmpl, version)); err != nil {
				t.Fatalf("testenv: mark template %s: %v", tmpl, err)
			}
		}
		templates.Store(key, struct{}{})
	}
	db := UniqueName("t_" + name + "_")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db+" TEMPLATE "+tmpl); err != nil {
		t.Fatalf("testenv: clone %s from %s: %v", db, tmpl, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("testenv: drop %s: %v", db, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop %s: %v", db, err)
		}
	})
	return withDatabase(t, base, db)
}

func withDatabase(t testing.TB, base, db string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: SIMCORE_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + db
	return u.String()
}

// templateSuffix turns a migrations version into a database-name suffix:
// lower-case letters, digits and underscores, at most 16 characters.
func templateSuffix(version string) string {
	b := make([]byte, 0, 16)
	for i := 0; i < len(version) && len(b) < 16; i++ {
		c := version[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c == '_':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		}
	}
	return string(b)
}
