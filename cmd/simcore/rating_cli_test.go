package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/provisioning"
	ppg "github.com/simcore/simcore/provisioning/postgres"
	"github.com/simcore/simcore/rating"
)

// TestRatingCLI drives the catalogue import, vouchers, top-ups and the
// balance through the CLI against a real PostgreSQL.
func TestRatingCLI(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	url := testenv.Postgres(t, "provisioning", ppg.MigrationsVersion(), ppg.Migrate)
	env := map[string]string{"SIMCORE_POSTGRES_URL": url, "SIMCORE_ACTIVATION_KEY": "00112233445566778899aabbccddeeff", "SIMCORE_LOG_LEVEL": "warn"}
	dir := t.TempDir()

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(demoCatalogue), "price_list: travel-eur", "price_list: travel-usd", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(ctx, env, "plans", "import", bad); !isUsage(err) || !strings.Contains(err.Error(), `(Travel 5 GB).price_list: price list "travel-usd" is not defined`) {
		t.Fatalf("bad catalogue: %v, want a usage error naming the field", err)
	}
	good := filepath.Join(dir, "catalogue.yaml")
	if err := os.WriteFile(good, demoCatalogue, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(ctx, env, "plans", "import", good)
	if err != nil || strings.TrimSpace(out) != `{"plans":3,"price_lists":2,"version":1,"zones":4}` {
		t.Fatalf("plans import: %q %v\n%s", out, err, errOut)
	}

	// A SIM on the pay-as-you-go plan, and one in stock.
	_, sim := addTestLine(ctx, t, url, 11, "447700900011", demoPAYGPlan)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	spare := demoICCID(12)
	h, _ := provisioning.NewActivationHasher([]byte("00112233445566778899aabbccddeeff"))
	if _, err := ppg.New(pool).ImportSIMs(ctx, []provisioning.SIMImportRow{{ICCID: spare, IMSI: demoIMSI(12), ActivationCode: "CODE0012"}}, h); err != nil {
		t.Fatal(err)
	}

	out, _, err = runCLI(ctx, env, "vouchers", "create", "--amount", "10.00", "--currency", "EUR", "--count", "3", "--expires", time.Now().AddDate(1, 0, 0).Format(time.DateOnly))
	codes := strings.Fields(out)
	if err != nil || len(codes) != 3 || codes[0] == codes[1] {
		t.Fatalf("vouchers create: %q %v", out, err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM vouchers WHERE code_hash = $1", rating.VoucherHash(codes[0])).Scan(&n); err != nil || n != 1 {
		t.Fatalf("voucher stored by hash: %d %v", n, err)
	}
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM vouchers WHERE position($1 in encode(code_hash, 'escape')) > 0", codes[0]).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a code is stored in clear: %d %v", n, err)
	}

	out, _, err = runCLI(ctx, env, "topup", sim, "--voucher", strings.ToLower(codes[0]))
	if err != nil || !strings.Contains(out, `"amount":"10.00"`) {
		t.Fatalf("redeem: %q %v", out, err)
	}
	if _, _, err := runCLI(ctx, env, "topup", sim, "--voucher", codes[0]); !isUsage(err) || !strings.Contains(err.Error(), "already redeemed") {
		t.Fatalf("redeem again: %v, want already redeemed", err)
	}
	for i, want := range []string{`"created":true`, `"created":false`} {
		out, _, err := runCLI(ctx, env, "topup", sim, "--amount", "2.50", "--key", "payment-77")
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("credit %d: %q %v, want %s", i, out, err, want)
		}
	}
	if _, _, err := runCLI(ctx, env, "topup", sim, "--amount", "2.50", "--currency", "GBP", "--key", "payment-78"); !isUsage(err) {
		t.Fatalf("credit in GBP on a EUR plan: %v, want a usage error", err)
	}

	out, _, err = runCLI(ctx, env, "balance", sim, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Plan    string
		Balance struct {
			Minor    int64
			Currency string
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("balance JSON %q: %v", out, err)
	}
	if st.Plan != demoPAYGPlan || st.Balance.Minor != 1250 || st.Balance.Currency != "EUR" {
		t.Fatalf("balance: plan %q, %+v; want %s, 12.50 EUR", st.Plan, st.Balance, demoPAYGPlan)
	}
	out, _, err = runCLI(ctx, env, "balance", sim)
	if err != nil || !strings.Contains(out, "12.50 EUR") || !strings.Contains(out, demoPAYGPlan) {
		t.Fatalf("balance: %q %v", out, err)
	}
	if _, _, err := runCLI(ctx, env, "balance", spare); !isUsage(err) {
		t.Fatalf("balance of a SIM in stock: %v, want a usage error", err)
	}
	// Mistakes on the command line are usage errors (exit 2) that say which
	// argument or flag is wrong: a bad ICCID used to read "iccid: iccid:
	// iccid_luhn", exit 1, and a credit without --key "idempotency_key:
	// required".
	if _, _, err := runCLI(ctx, env, "balance", "8944100000000000035"); !isUsage(err) || !strings.Contains(err.Error(), `ICCID "8944100000000000035"`) {
		t.Errorf("balance of an ICCID with a wrong check digit: %v, want a usage error naming it", err)
	}
	if _, _, err := runCLI(ctx, env, "topup", sim, "--amount", "1.00"); !isUsage(err) || !strings.Contains(err.Error(), "--key") {
		t.Errorf("topup --amount without --key: %v, want a usage error naming --key", err)
	}
}
