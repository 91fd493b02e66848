package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/testenv"
	ppg "github.com/simcore/simcore/provisioning/postgres"
)

// TestImportSameCatalogueTwice: importing the same file twice changes
// nothing; it used to store a second catalogue version.
func TestImportSameCatalogueTwice(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	url := testenv.Postgres(t, "provisioning", ppg.MigrationsVersion(), ppg.Migrate)
	env := map[string]string{"SIMCORE_POSTGRES_URL": url, "SIMCORE_ACTIVATION_KEY": "00112233445566778899aabbccddeeff", "SIMCORE_LOG_LEVEL": "warn"}
	good := filepath.Join(t.TempDir(), "catalogue.yaml")
	if err := os.WriteFile(good, demoCatalogue, 0o600); err != nil {
		t.Fatal(err)
	}
	var outs []string
	for i := 0; i < 2; i++ {
		out, errOut, err := runCLI(ctx, env, "plans", "import", good)
		if err != nil {
			t.Fatalf("plans import %d: %v\n%s", i+1, err, errOut)
		}
		outs = append(outs, strings.TrimSpace(out))
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM rating_catalogues").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 || outs[0] != outs[1] {
		t.Fatalf("the same catalogue imported twice: %d stored versions, outputs %q then %q; want one version and the same answer", n, outs[0], outs[1])
	}
}

// TestBalancePeriodsOutOfRange: `simcore balance --periods` takes 1 to 36,
// as the balance API does; it used to take -5 or 0 silently and pass a
// billion on as the SQL limit.
func TestBalancePeriodsOutOfRange(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	url := testenv.Postgres(t, "provisioning", ppg.MigrationsVersion(), ppg.Migrate)
	env := map[string]string{"SIMCORE_POSTGRES_URL": url, "SIMCORE_ACTIVATION_KEY": "00112233445566778899aabbccddeeff", "SIMCORE_LOG_LEVEL": "warn"}
	good := filepath.Join(t.TempDir(), "catalogue.yaml")
	if err := os.WriteFile(good, demoCatalogue, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := runCLI(ctx, env, "plans", "import", good); err != nil {
		t.Fatalf("plans import: %v\n%s", err, errOut)
	}
	_, sim := addTestLine(ctx, t, url, 31, "447700900031", demoPAYGPlan)
	if _, _, err := runCLI(ctx, env, "balance", sim, "--periods", "3"); err != nil {
		t.Fatalf("balance: %v", err)
	}
	for _, n := range []string{"-5", "0", "1000000000"} {
		out, _, err := runCLI(ctx, env, "balance", sim, "--periods", n)
		if !isUsage(err) {
			t.Errorf("balance --periods %s: err %v, output %q; want a usage error (the API takes 1 to 36)", n, err, out)
		}
	}
}

// TestImportRefusesCurrencyChange: a catalogue that moves a plan to
// another currency is refused, naming the plan: a plan's balance counts
// credits in its currency, so the lines' paid credits would vanish from it
// and rating would bar them.
func TestImportRefusesCurrencyChange(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	url := testenv.Postgres(t, "provisioning", ppg.MigrationsVersion(), ppg.Migrate)
	env := map[string]string{"SIMCORE_POSTGRES_URL": url, "SIMCORE_LOG_LEVEL": "warn"}
	dir := t.TempDir()
	v1, v2 := filepath.Join(dir, "v1.yaml"), filepath.Join(dir, "v2.yaml")
	if err := os.WriteFile(v1, demoCatalogue, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v2, []byte(strings.Replace(string(demoCatalogue), "currency: EUR", "currency: GBP", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := runCLI(ctx, env, "plans", "import", v1); err != nil {
		t.Fatalf("plans import: %v\n%s", err, errOut)
	}
	_, _, err := runCLI(ctx, env, "plans", "import", v2)
	if !isUsage(err) || !strings.Contains(err.Error(), "currency GBP") {
		t.Fatalf("a plan moved from EUR to GBP: %v, want a usage error naming the plan and the currencies", err)
	}
}
