package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/testenv"
	chstore "github.com/simcore/simcore/metering/clickhouse"
	"github.com/simcore/simcore/provisioning"
	ppg "github.com/simcore/simcore/provisioning/postgres"
	"github.com/simcore/simcore/workers/gateway"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRatingBarsAndUnbarsEndToEnd runs `simcore run` (ingest, rater,
// provisioning workers and the network simulator) against the real
// services: calls dropped into the spool exhaust a pay-as-you-go balance,
// the simulated HLR ends up with the line's data and outgoing calls and SMS
// barred (the demo plan bars both), the subscriber gets one SMS saying so,
// and a top-up through the CLI lifts both bars on the HLR, with one SMS.
func TestRatingBarsAndUnbarsEndToEnd(t *testing.T) {
	ctx := testenv.Context(t, 4*time.Minute)
	// A line on the pay-as-you-go plan with 1.00 EUR on it.
	line := newPAYGLine(t, ctx, 21, "Dana", "he", "1.00")
	env, pool, iccid, imsi, msisdn, subID := line.env, line.pool, line.iccid, line.imsi, line.msisdn, line.subID
	hlrAddr, smscAddr, smtpAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	dir := t.TempDir()

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	spool := filepath.Join(dir, "spool")
	go func() {
		_, errOut, err := runCLI(runCtx, env, "run", "--state-dir", dir, "--spool", spool,
			"--ops-addr", "127.0.0.1:0", "--portal-addr", "127.0.0.1:0", "--push-addr", "", "--radius-addr", "",
			"--hlr-addr", hlrAddr, "--smsc-listen", smscAddr, "--smtp-listen", smtpAddr)
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, errOut)
		}
		done <- err
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	gw, err := gateway.New(gateway.Config{BaseURL: "http://" + hlrAddr, Token: "netsim-gateway-token", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool {
		return gw.CreateSubscriber(ctx, "e2e-create", msisdn, imsi, iccid) == nil
	}, func() string { return "the simulated HLR did not come up" })
	barring := func() provisioning.Barring {
		s, _ := gw.Subscriber(ctx, msisdn)
		return s.Barring
	}

	// Two 5-minute calls in the UK at 0.15 EUR/min: 1.50 EUR against 1.00.
	csv := "record_id,node_id,type,iccid,start_time,duration_s,bytes_up,bytes_down,mcc_mnc\n"
	for i := range 2 {
		csv += fmt.Sprintf("e2e-%d,msc1,voice,%s,%s,300,0,0,23415\n", i, iccid, time.Now().Add(-time.Duration(10*i+10)*time.Minute).UTC().Format(time.RFC3339))
	}
	if err := os.MkdirAll(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spool, ".usage.csv"), []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(spool, ".usage.csv"), filepath.Join(spool, "usage.csv")); err != nil {
		t.Fatal(err)
	}
	both := provisioning.Barring{Data: true, Outgoing: true}
	waitFor(t, 60*time.Second, func() bool { return barring() == both },
		func() string {
			return fmt.Sprintf("HLR barring %+v after the balance ran out, want %+v", barring(), both)
		})

	if _, _, err := runCLI(ctx, env, "topup", iccid, "--amount", "5.00", "--key", "e2e-topup"); err != nil {
		t.Fatalf("top-up: %v", err)
	}
	waitFor(t, 60*time.Second, func() bool { return barring() == provisioning.Barring{} },
		func() string { return fmt.Sprintf("HLR barring %+v after the top-up, want none", barring()) })

	// The HLR changes before the worker marks its request done.
	requests := func() []string {
		rows, err := pool.Query(ctx, `SELECT kind, state, requested_by, coalesce(params->>'notice', '') FROM provisioning_requests
		WHERE subscription_id = $1 ORDER BY seq`, subID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var kind, state, by, notice string
			if err := rows.Scan(&kind, &state, &by, &notice); err != nil {
				t.Fatal(err)
			}
			got = append(got, kind+"/"+state+"/"+by+"/"+notice)
		}
		return got
	}
	// One event, one notice: the outgoing request (after the data one on
	// the line) says both.
	want := []string{"bar_data/done/rating/", "bar_outgoing/done/rating/outgoing_data_barred",
		"unbar_data/done/rating/", "unbar_outgoing/done/rating/outgoing_data_resumed"}
	waitFor(t, 30*time.Second, func() bool { return fmt.Sprint(requests()) == fmt.Sprint(want) },
		func() string { return fmt.Sprintf("requests %v, want %v", requests(), want) })
	// Both messages went to the SMSC, in the subscriber's language.
	waitFor(t, 30*time.Second, func() bool {
		var sent int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM notice_outbox o JOIN provisioning_requests r ON r.id = o.request_id
			WHERE r.subscription_id = $1 AND o.state = 'sent' AND o.notice->>'language' = 'he' AND o.notice->>'to' = $2`, subID, msisdn).Scan(&sent)
		return err == nil && sent == 2
	}, func() string { return "the barring and unbarring SMS were not both sent in Hebrew" })
}

// TestRaterServesBalanceAPI: a production rater (not simcore run) serves
// the back-office balance API with its bearer token, and refuses to open
// it without one.
func TestRaterServesBalanceAPI(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	line := newPAYGLine(t, ctx, 31, "Eli", "en", "3.25")
	env, iccid := line.env, line.iccid
	env["SIMCORE_OPS_ADDR"] = "127.0.0.1:0"
	if _, _, err := runCLI(ctx, env, "rater", "--balance-addr", freeAddr(t)); !isUsage(err) || !strings.Contains(err.Error(), "needs a token") {
		t.Fatalf("balance API without a token: %v, want a usage error", err)
	}

	addr := freeAddr(t)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, errOut, err := runCLI(runCtx, env, "rater", "--balance-addr", addr, "--balance-token", "back-office")
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, errOut)
		}
		done <- err
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("rater: %v", err)
		}
	}()
	get := func(token string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/sims/"+iccid+"/balance", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var code int
	var body string
	waitFor(t, 30*time.Second, func() bool { code, body = get("back-office"); return code == http.StatusOK },
		func() string { return fmt.Sprintf("balance API: %d %s", code, body) })
	if !strings.Contains(body, `"amount":"3.25"`) {
		t.Fatalf("balance: %s, want 3.25", body)
	}
	if code, body := get("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d %s, want 401", code, body)
	}
}

// paygLine is a subscription on the pay-as-you-go plan, in databases of
// the test's own with the demo catalogue imported, and its first credit.
type paygLine struct {
	env                 map[string]string // the stores, for runCLI
	pool                *pgxpool.Pool
	iccid, imsi, msisdn string
	subID               int64
}

// newPAYGLine sets up line n (demoICCID(n) and its IMSI and MSISDN) for
// subscriber name speaking lang, with credit on it.
func newPAYGLine(t *testing.T, ctx context.Context, n int, name, lang, credit string) *paygLine {
	t.Helper()
	pgURL := testenv.Postgres(t, "provisioning", ppg.MigrationsVersion(), ppg.Migrate)
	redisAddr, redisDB := testenv.RedisDB(t)
	chDB := testenv.UniqueName("t_")
	t.Cleanup(func() {
		_ = chstore.DropDatabase(context.Background(), chstore.Config{Addr: testenv.ClickHouseAddr(t), Database: chDB})
	})
	l := &paygLine{env: map[string]string{
		"SIMCORE_POSTGRES_URL":        pgURL,
		"SIMCORE_CLICKHOUSE_ADDR":     testenv.ClickHouseAddr(t),
		"SIMCORE_CLICKHOUSE_DATABASE": chDB,
		"SIMCORE_REDIS_ADDR":          redisAddr,
		"SIMCORE_REDIS_DB":            strconv.Itoa(redisDB),
		"SIMCORE_ACTIVATION_KEY":      "00112233445566778899aabbccddeeff",
		"SIMCORE_LOG_LEVEL":           "warn",
	}, iccid: demoICCID(n), imsi: demoIMSI(n), msisdn: demoMSISDN(n)}
	catalogue := filepath.Join(t.TempDir(), "catalogue.yaml")
	if err := os.WriteFile(catalogue, demoCatalogue, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := runCLI(ctx, l.env, "plans", "import", catalogue); err != nil {
		t.Fatalf("plans import: %v\n%s", err, errOut)
	}
	var err error
	if l.pool, err = pgxpool.New(ctx, pgURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.pool.Close)
	store := ppg.New(l.pool)
	h, _ := provisioning.NewActivationHasher([]byte("00112233445566778899aabbccddeeff"))
	if _, err := store.ImportSIMs(ctx, []provisioning.SIMImportRow{{ICCID: l.iccid, IMSI: l.imsi, ActivationCode: fmt.Sprintf("CODE%04d", n)}}, h); err != nil {
		t.Fatal(err)
	}
	plan, _ := store.CreatePlan(ctx, provisioning.Plan{Name: demoPAYGPlan, APN: "travel.simcore"})
	acct, _ := store.CreateAccount(ctx, name)
	subr, _ := store.CreateSubscriber(ctx, provisioning.Subscriber{AccountID: acct, Name: name, Language: lang})
	if l.subID, err = store.CreateSubscription(ctx, subr, plan, l.msisdn, l.iccid, time.Now().AddDate(0, 0, -1)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(ctx, l.env, "topup", l.iccid, "--amount", credit, "--key", "initial-"+l.iccid); err != nil {
		t.Fatalf("initial credit: %v", err)
	}
	return l
}
