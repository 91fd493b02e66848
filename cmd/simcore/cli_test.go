package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	chstore "github.com/simcore/simcore/metering/clickhouse"
	mpg "github.com/simcore/simcore/metering/postgres"
)

func runCLI(ctx context.Context, env map[string]string, args ...string) (string, string, error) {
	var out, errb testenv.Buffer
	err := run(ctx, args, func(k string) string { return env[k] }, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return out.String(), errb.String(), err
}

func TestCLIUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr func(error) bool
		wantOut string
	}{
		{"help lists commands", []string{"help"}, func(err error) bool { return errors.Is(err, errHelp) }, "ingest "},
		{"help of a command shows its env vars", []string{"help", "ingest"}, func(err error) bool { return errors.Is(err, errHelp) }, "SIMCORE_CLICKHOUSE_ADDR"},
		{"-h after a command", []string{"usage", "-h"}, func(err error) bool { return errors.Is(err, errHelp) }, "--by"},
		{"no command", nil, isUsage, "Commands:"},
		{"unknown command", []string{"frobnicate"}, isUsage, ""},
		{"portal takes no arguments", []string{"portal", "extra"}, isUsage, ""},
		{"help of portal shows its listener", []string{"help", "portal"}, func(err error) bool { return errors.Is(err, errHelp) }, "SIMCORE_PORTAL_ADDR"},
		{"help of portal shows its trusted proxies", []string{"help", "portal"}, func(err error) bool { return errors.Is(err, errHelp) }, "SIMCORE_PORTAL_TRUSTED_PROXIES"},
		{"portal bad trusted proxy", []string{"portal", "--portal-trusted-proxies", "127.0.0.1,proxy.example"}, usageNaming(`"proxy.example"`), ""},
		{"run bad trusted proxy", []string{"run", "--portal-trusted-proxies", "10.0.0.0/33"}, usageNaming(`"10.0.0.0/33"`), ""},
		{"ingest with nothing to do", []string{"ingest"}, isUsage, ""},
		{"ingest bad format", []string{"ingest", "--format", "xml", "f"}, isUsage, ""},
		{"unknown flag", []string{"ingest", "--nope"}, isUsage, ""},
		{"usage bad iccid", []string{"usage", "1234"}, isUsage, ""},
		{"usage bad granularity", []string{"usage", "8944100000000000075", "--by", "week"}, isUsage, ""},
		{"usage bad date", []string{"usage", "8944100000000000075", "--from", "yesterday"}, isUsage, ""},
		{"gen without kind", []string{"gen"}, isUsage, ""},
		{"bad log level", []string{"migrate", "--log-level", "loud"}, isUsage, ""},
		{"no RADIUS sessions kept", []string{"ingest", "--radius-addr", "127.0.0.1:0", "--radius-sessions", "0"}, usageNaming("--radius-sessions 0"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := runCLI(context.Background(), nil, tt.args...)
			if !tt.wantErr(err) {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Fatalf("stdout lacks %q:\n%s", tt.wantOut, out)
			}
		})
	}
}

// TestIngestReceiveOnlyUsage: --store=false refuses what it cannot do
// (it stores nothing and opens no database) with a usage error that names
// it, before it listens on anything.
func TestIngestReceiveOnlyUsage(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SIMCORE_RADIUS_SECRET": "s", "SIMCORE_OPS_ADDR": "127.0.0.1:0"}
	spool := t.TempDir()
	for name, args := range map[string][]string{
		"no receiver":        {"--spool", spool},
		"no spool":           {"--radius-addr", "127.0.0.1:0"},
		"no write-ahead log": {"--radius-addr", "127.0.0.1:0", "--spool", spool, "--radius-wal=false"},
		"push needs a store": {"--radius-addr", "127.0.0.1:0", "--spool", spool, "--push-addr", "127.0.0.1:0", "--push-token", "t"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, errOut, err := runCLI(t.Context(), env, append([]string{"ingest", "--store=false"}, args...)...)
			if !isUsage(err) || !strings.Contains(err.Error(), "--store=false") {
				t.Fatalf("err = %v, want a usage error about --store=false\n%s", err, errOut)
			}
		})
	}
}

func isUsage(err error) bool { var u usageError; return errors.As(err, &u) }

// usageNaming matches a usage error whose message contains s.
func usageNaming(s string) func(error) bool {
	return func(err error) bool { return isUsage(err) && strings.Contains(err.Error(), s) }
}

func TestGenFlagsAfterArgument(t *testing.T) {
	t.Parallel()
	out, errOut, err := runCLI(context.Background(), nil, "gen", "cdrs", "--records", "25", "--sims", "3", "--seed", "9")
	if err != nil {
		t.Fatalf("gen: %v\n%s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 26 || !strings.HasPrefix(lines[0], "record_id,") {
		t.Fatalf("gen wrote %d lines (want header + 25), first %q", len(lines), lines[0])
	}
	again, _, _ := runCLI(context.Background(), nil, "gen", "cdrs", "--records", "25", "--sims", "3", "--seed", "9")
	if again != out {
		t.Fatal("same seed, different output")
	}
}

// TestRunDemo runs the engine in-process with demo traffic against the real
// services: it must listen where it says, answer health and readiness, ingest
// the demo spool files, accept HTTP push with its token, answer usage, and
// stop cleanly when its context ends.
func TestRunDemo(t *testing.T) {
	chCfg := chstore.Config{Addr: testenv.ClickHouseAddr(t), Database: testenv.UniqueName("t_run_")}
	t.Cleanup(func() { _ = chstore.DropDatabase(context.Background(), chCfg) })
	state := t.TempDir()
	env := map[string]string{
		"SIMCORE_CLICKHOUSE_ADDR":     chCfg.Addr,
		"SIMCORE_CLICKHOUSE_DATABASE": chCfg.Database,
		"SIMCORE_POSTGRES_URL":        testenv.Postgres(t, "metering", mpg.MigrationsVersion(), mpg.Migrate),
		"SIMCORE_OPS_ADDR":            "127.0.0.1:0",
		"SIMCORE_INGEST_PUSH_ADDR":    "127.0.0.1:0",
		"SIMCORE_STATE_DIR":           state,
		"SIMCORE_INGEST_BATCH_WAIT":   "100ms",
		"SIMCORE_ACTIVATION_KEY":      "00112233445566778899aabbccddeeff",
		"SIMCORE_NETSIM_HLR_ADDR":     "127.0.0.1:0",
		"SIMCORE_NETSIM_SMSC_ADDR":    "127.0.0.1:0",
		"SIMCORE_NETSIM_SMTP_ADDR":    "127.0.0.1:0",
		"SIMCORE_RADIUS_ADDR":         "127.0.0.1:0",
		"SIMCORE_PORTAL_ADDR":         "127.0.0.1:0",
	}
	redisAddr, redisDB := testenv.RedisDB(t)
	env["SIMCORE_REDIS_ADDR"], env["SIMCORE_REDIS_DB"] = redisAddr, strconv.Itoa(redisDB)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testenv.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"run", "--demo", "--demo-every", "300ms"}, func(k string) string { return env[k] }, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	}()

	opsRe := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/metrics`)
	pushRe := regexp.MustCompile(`POST (http://127\.0\.0\.1:\d+/v1/ingest)`)
	portalRe := regexp.MustCompile(`portal API: +(http://127\.0\.0\.1:\d+/v1)`)
	var opsAddr, pushURL, portalURL string
	waitFor(t, 30*time.Second, func() bool {
		if m := opsRe.FindStringSubmatch(out.String()); m != nil {
			opsAddr = m[1]
		}
		if m := pushRe.FindStringSubmatch(out.String()); m != nil {
			pushURL = m[1]
		}
		if m := portalRe.FindStringSubmatch(out.String()); m != nil {
			portalURL = m[1]
		}
		return opsAddr != "" && pushURL != "" && portalURL != ""
	}, func() string { return "run did not print its addresses:\n" + out.String() + errb.String() })

	if code, body := get(t, "http://"+opsAddr+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	// Ready once every dependency answers its check: polled, since one slow
	// ping on a busy machine is a 503 that the next check clears.
	waitReady(t, opsAddr, func() string {
		code, body := get(t, "http://"+opsAddr+"/readyz")
		return fmt.Sprintf("/readyz: %d %s", code, body)
	})
	// The portal runs inside run too.
	if code, body := get(t, portalURL+"/openapi.json"); code != http.StatusOK || !strings.Contains(body, `"openapi":"3.1`) {
		t.Fatalf("portal openapi.json: %d %.200s", code, body)
	}
	// Demo files get ingested and moved to done/.
	waitFor(t, 30*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(state, "spool", "done", "demo-*.csv"))
		return len(m) >= 2
	}, func() string { return "no demo file reached spool/done:\n" + errb.String() })
	_, metrics := get(t, "http://"+opsAddr+"/metrics")
	if !regexp.MustCompile(`simcore_ingest_records_total\{format="csv",outcome="stored",source="spool"\} [1-9]`).MatchString(metrics) {
		t.Fatalf("metrics show no stored spool records:\n%s", grepLines(metrics, "simcore_ingest"))
	}
	// RADIUS is answered from the write-ahead log in the spool.
	if !strings.Contains(metrics, "simcore_ingest_wal_fsync_duration_seconds_count") {
		t.Fatalf("run has no RADIUS write-ahead log:\n%s", grepLines(metrics, "simcore_ingest"))
	}

	// HTTP push with the token run --demo wrote.
	tok, err := os.ReadFile(filepath.Join(state, "ingest-token"))
	if err != nil {
		t.Fatal(err)
	}
	body := "record_id,node_id,type,iccid,start_time,bytes_up,bytes_down\n" +
		"push-1,pushnode,data," + demoICCID(7) + "," + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339) + ",1000,2000\n"
	for i, want := range []string{`"stored":1`, `"duplicates":1`} {
		req, _ := http.NewRequest(http.MethodPost, pushURL, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Fatalf("push %d: %d %s, want %s", i+1, resp.StatusCode, b, want)
		}
	}

	// The usage command sees the demo SIM's traffic.
	uout, uerr, err := runCLI(context.Background(), env, "usage", demoICCID(7), "--json")
	if err != nil {
		t.Fatalf("usage: %v\n%s", err, uerr)
	}
	var u struct {
		ICCID string `json:"iccid"`
		Data  struct {
			BytesUp uint64 `json:"bytes_up"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(uout), &u); err != nil || u.ICCID != demoICCID(7) || u.Data.BytesUp < 1000 {
		t.Fatalf("usage output %q (%v): want the demo SIM with at least the pushed 1000 bytes up", uout, err)
	}

	// Provisioning through the CLI against the running workers and the
	// embedded network simulator.
	pout, perr, err := runCLI(context.Background(), env, "provision", "voicemail", demoMSISDN(1), "on", "--language", "he")
	if err != nil {
		t.Fatalf("provision: %v\n%s", err, perr)
	}
	var req struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(pout), &req); err != nil || req.ID == "" {
		t.Fatalf("provision printed %q (%v)", pout, err)
	}
	sout, serr, err := runCLI(context.Background(), env, "provision", "status", req.ID, "--wait", "--timeout", "60s")
	if err != nil {
		t.Fatalf("provision status --wait: %v\n%s%s", err, sout, serr)
	}
	if err := json.Unmarshal([]byte(sout), &req); err != nil || req.State != "done" {
		t.Fatalf("request ended %q (%v):\n%s", req.State, err, sout)
	}
	if _, _, err := runCLI(context.Background(), env, "provision", "dates", demoMSISDN(1), "2001-01-01"); !isUsage(err) {
		t.Fatalf("a start date in the past: err %v, want a usage error", err)
	}

	portalDemo(t, env, portalURL, pushURL, strings.TrimSpace(string(tok)))

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30 s of cancel")
	}
	if parts, _ := filepath.Glob(filepath.Join(state, "spool", ".radius-wal-*.part")); len(parts) != 0 {
		t.Errorf("run left open write-ahead log segments: %v", parts)
	}
}

func waitFor(t testing.TB, d time.Duration, cond func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestSecretsFromFiles: every secret setting can come from the file named
// by NAME_FILE (as systemd credentials and container secrets provide
// them), the variable itself wins, and a file that cannot be read stops
// the command with a usage error naming it, before it connects anywhere.
func TestSecretsFromFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	read := func(env map[string]string) (string, []error) {
		c := &cmdEnv{getenv: func(k string) string { return env[k] }, fs: flag.NewFlagSet("t", flag.ContinueOnError)}
		var v string
		c.secretStr(&v, "smtp-password", "SIMCORE_SMTP_PASSWORD", "", "")
		return v, c.errs
	}
	if v, errs := read(map[string]string{"SIMCORE_SMTP_PASSWORD_FILE": pw}); v != "s3cret" || errs != nil {
		t.Errorf("from a file: %q, %v; want s3cret, no error", v, errs)
	}
	if v, errs := read(map[string]string{"SIMCORE_SMTP_PASSWORD": "direct", "SIMCORE_SMTP_PASSWORD_FILE": pw}); v != "direct" || errs != nil {
		t.Errorf("variable and file: %q, %v; want the variable", v, errs)
	}

	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"missing file", map[string]string{"SIMCORE_POSTGRES_URL_FILE": filepath.Join(dir, "nope")}, "SIMCORE_POSTGRES_URL_FILE: open "},
		{"empty file", map[string]string{"SIMCORE_POSTGRES_URL_FILE": empty}, "SIMCORE_POSTGRES_URL_FILE: " + empty + " is empty"},
		{"ClickHouse password", map[string]string{"SIMCORE_CLICKHOUSE_PASSWORD_FILE": filepath.Join(dir, "nope")}, "SIMCORE_CLICKHOUSE_PASSWORD_FILE: open "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Unreachable stores: the command must stop before dialing them.
			tt.env["SIMCORE_CLICKHOUSE_ADDR"] = "127.0.0.1:1"
			_, _, err := runCLI(context.Background(), tt.env, "migrate")
			if !isUsage(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want a usage error containing %q", err, tt.want)
			}
		})
	}

	out, _, err := runCLI(context.Background(), nil, "help", "worker")
	if !errors.Is(err, errHelp) || !strings.Contains(out, "$SIMCORE_SMSC_PASSWORD_FILE") {
		t.Fatalf("worker help does not offer SIMCORE_SMSC_PASSWORD_FILE (err %v):\n%s", err, out)
	}
}

// TestHelpHidesURLPasswords: a URL setting with a password in it (which
// the gateway refuses, but an operator may still write) shows in help as
// its default without the password, in every command, whether the URL
// parses or not, and in the help printed with a usage error.
func TestHelpHidesURLPasswords(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"https://gw:s3cret-pw@gw.example/prov", "https://gw:s3cret-pw@gw.example:badport"} {
		env := map[string]string{"SIMCORE_GATEWAY_URL": u, "SIMCORE_PORTAL_LINK_BASE": u}
		for _, c := range commands() {
			for _, args := range [][]string{{"help", c.name}, {c.name, "--no-such-flag"}} {
				out, errOut, _ := runCLI(context.Background(), env, args...)
				if strings.Contains(out+errOut, "s3cret-pw") {
					t.Errorf("simcore %s shows the URL's password:\n%s%s", strings.Join(args, " "), out, errOut)
				}
			}
		}
		out, _, _ := runCLI(context.Background(), env, "help", "worker")
		if !strings.Contains(out, "gw:xxxxx@gw.example") {
			t.Errorf("worker help does not show the redacted gateway URL:\n%s", out)
		}
	}
}

// TestHelpHidesURLPasswordsWithDelimiters: a password holding '#', '?' or
// '/' (common in generated ones) is hidden by help and by the usage error
// too, though the text before it looks like the whole authority.
func TestHelpHidesURLPasswordsWithDelimiters(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, url string }{
		{"hash", "https://gw:s3cret#pw@gw.example/prov"},
		{"question mark", "https://gw:s3cret?pw@gw.example/prov"},
		{"slash", "https://gw:s3cret/pw@gw.example:8443/prov"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"SIMCORE_GATEWAY_URL": tt.url}
			for _, args := range [][]string{{"help", "worker"}, {"worker", "--no-such-flag"}} {
				out, errOut, _ := runCLI(context.Background(), env, args...)
				if strings.Contains(out+errOut, "s3cret") {
					t.Errorf("simcore %s shows the URL's password:\n%s%s", strings.Join(args, " "), out, errOut)
				}
			}
		})
	}
}

// TestSimulatorCredentialsOnlyForTheSimulator: the worker refuses to talk
// to a gateway or SMSC on another host with the simulator's default
// credentials (a forgotten setting), before it connects anywhere, and
// accepts them on this host, where netsim runs.
func TestSimulatorCredentialsOnlyForTheSimulator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pc      provConfig
		wantErr string
	}{
		{"simulator defaults", provConfig{gatewayURL: "http://127.0.0.1:8480", gatewayToken: netsimGatewayToken, smscAddr: "127.0.0.1:2775", smscPassword: netsimSMSCPassword}, ""},
		{"simulator on other ports", provConfig{gatewayURL: "http://localhost:18480", gatewayToken: netsimGatewayToken, smscAddr: "[::1]:12775", smscPassword: netsimSMSCPassword}, ""},
		{"real gateway, token forgotten", provConfig{gatewayURL: "https://gw.operator.example/api", gatewayToken: netsimGatewayToken, smscAddr: "127.0.0.1:2775", smscPassword: netsimSMSCPassword}, "SIMCORE_GATEWAY_TOKEN is not set"},
		{"real gateway with its token", provConfig{gatewayURL: "https://gw.operator.example/api", gatewayToken: "t0ken", smscAddr: "127.0.0.1:2775", smscPassword: netsimSMSCPassword}, ""},
		{"real SMSC, password forgotten", provConfig{gatewayURL: "http://127.0.0.1:8480", gatewayToken: netsimGatewayToken, smscAddr: "10.20.0.5:2775", smscPassword: netsimSMSCPassword}, "SIMCORE_SMSC_PASSWORD is not set"},
		{"real SMSC with its password", provConfig{gatewayURL: "http://127.0.0.1:8480", gatewayToken: netsimGatewayToken, smscAddr: "10.20.0.5:2775", smscPassword: "pw"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.pc.checkCredentials()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (!isUsage(err) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v; want a usage error containing %q", err, tt.wantErr)
			}
		})
	}
	// Through the command: refused before any store is dialled.
	env := map[string]string{"SIMCORE_GATEWAY_URL": "https://gw.operator.example/api", "SIMCORE_POSTGRES_URL": "postgres://nobody@127.0.0.1:1/x", "SIMCORE_REDIS_ADDR": "127.0.0.1:1"}
	if _, _, err := runCLI(context.Background(), env, "worker"); !isUsage(err) || !strings.Contains(err.Error(), "SIMCORE_GATEWAY_TOKEN") {
		t.Fatalf("worker with a real gateway and no token: %v", err)
	}
}

// TestJSONLogDurations: JSON logs write durations as Go durations, not as
// integer nanoseconds; text logs already did.
func TestJSONLogDurations(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		var b strings.Builder
		log, err := newLogger(&b, format, "info")
		if err != nil {
			t.Fatal(err)
		}
		log.Info("replay", "window", 30*time.Minute, "group", slog.GroupValue(slog.Duration("wait", 1500*time.Millisecond)))
		if !strings.Contains(b.String(), "30m0s") || !strings.Contains(b.String(), "1.5s") || strings.Contains(b.String(), "1800000000000") {
			t.Errorf("%s log: %s", format, b.String())
		}
	}
}

// TestSpoolRetentionCoversRADIUSReplay: done/ may not be pruned sooner
// than the RADIUS receiver reads it back at start; refused before anything
// is opened.
func TestSpoolRetentionCoversRADIUSReplay(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SIMCORE_RADIUS_SECRET": "s3cret", "SIMCORE_POSTGRES_URL": "postgres://nobody@127.0.0.1:1/x", "SIMCORE_CLICKHOUSE_ADDR": "127.0.0.1:1"}
	args := []string{"ingest", "--spool", t.TempDir(), "--radius-addr", "127.0.0.1:0", "--spool-retention", "10m"}
	if _, _, err := runCLI(context.Background(), env, args...); !usageNaming("shorter than --radius-wal-replay 30m0s")(err) {
		t.Fatalf("err = %v; want a usage error", err)
	}
}

// TestSpoolRetentionCoversSplitReceiverReplay: with the receiver apart
// (docs/ingest.md, "Receiver and store in separate processes";
// simcore-radius.service), the store has no --radius-addr, yet it is the
// process that prunes done/, where the receiver rebuilds its session
// marks from at start. The docs say the retention "may not be shorter
// than the window"; the store took --spool-retention 10m, and a receiver
// restarted after it pruned over-counted its sessions' next updates.
func TestSpoolRetentionCoversSplitReceiverReplay(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SIMCORE_POSTGRES_URL": "postgres://nobody@127.0.0.1:1/x", "SIMCORE_CLICKHOUSE_ADDR": "127.0.0.1:1"}
	args := []string{"ingest", "--spool", t.TempDir(), "--spool-retention", "10m"}
	if _, _, err := runCLI(context.Background(), env, args...); !usageNaming("shorter than --radius-wal-replay 30m0s")(err) {
		t.Fatalf("err = %v; want a usage error", err)
	}
}
