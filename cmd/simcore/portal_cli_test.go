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
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	chstore "github.com/simcore/simcore/metering/clickhouse"
	mpg "github.com/simcore/simcore/metering/postgres"
	"github.com/simcore/simcore/netsim/mailsink"
)

// TestPortalCommand runs `simcore portal` in-process against the real
// services and a real SMTP sink: it migrates, listens where it says,
// registers a user, mails a password reset through SMTP, counts requests
// per route template, and stops cleanly.
func TestPortalCommand(t *testing.T) {
	t.Parallel()
	chCfg := chstore.Config{Addr: testenv.ClickHouseAddr(t), Database: testenv.UniqueName("t_portal_cmd_")}
	t.Cleanup(func() { _ = chstore.DropDatabase(context.Background(), chCfg) })
	sink, err := mailsink.New(mailsink.Config{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	redisAddr, redisDB := testenv.RedisDB(t)
	env := map[string]string{
		"SIMCORE_CLICKHOUSE_ADDR":     chCfg.Addr,
		"SIMCORE_CLICKHOUSE_DATABASE": chCfg.Database,
		"SIMCORE_POSTGRES_URL":        testenv.Postgres(t, "metering", mpg.MigrationsVersion(), mpg.Migrate),
		"SIMCORE_REDIS_ADDR":          redisAddr,
		"SIMCORE_REDIS_DB":            strconv.Itoa(redisDB),
		"SIMCORE_OPS_ADDR":            "127.0.0.1:0",
		"SIMCORE_PORTAL_ADDR":         "127.0.0.1:0",
		"SIMCORE_SMTP_ADDR":           sink.Addr(),
		"SIMCORE_ACTIVATION_KEY":      "00112233445566778899aabbccddeeff",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testenv.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"portal"}, func(k string) string { return env[k] }, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	}()
	re := regexp.MustCompile(`portal API: (http://127\.0\.0\.1:\d+/v1) .*http://(127\.0\.0\.1:\d+)`)
	var api, opsAddr string
	waitFor(t, 60*time.Second, func() bool {
		m := re.FindStringSubmatch(out.String())
		if m != nil {
			api, opsAddr = m[1], m[2]
		}
		return m != nil
	}, func() string { return "portal did not print its addresses:\n" + out.String() + errb.String() })

	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(api+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("/auth/register", `{"email":"cmd@example.com","password":"a long enough password","name":"Cmd","accepted_terms":true}`); code != http.StatusCreated {
		t.Fatalf("register: %d %s", code, body)
	}
	code, body := post("/auth/login", `{"email":"cmd@example.com","password":"a long enough password"}`)
	var g struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(body), &g); code != http.StatusOK || err != nil || g.Token == "" {
		t.Fatalf("login: %d %s", code, body)
	}
	if code, body := post("/auth/password/forgot", `{"email":"cmd@example.com"}`); code != http.StatusAccepted {
		t.Fatalf("forgot: %d %s", code, body)
	}
	waitFor(t, 30*time.Second, func() bool {
		for _, m := range sink.Messages() {
			if m.To[0] == "cmd@example.com" && strings.Contains(m.Text, "#token=") {
				return true
			}
		}
		return false
	}, func() string { return "no reset email reached the SMTP sink:\n" + errb.String() })

	_, metrics := get(t, "http://"+opsAddr+"/metrics")
	if !strings.Contains(metrics, `simcore_portal_requests_total{code_class="2xx",route="POST /v1/auth/register"} 1`) {
		t.Fatalf("metrics lack the register request:\n%s", grepLines(metrics, "simcore_portal"))
	}
	if code, _ := get(t, "http://"+opsAddr+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz: %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("portal returned %v after cancel\n%s", err, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("portal did not stop within 30 s of cancel")
	}
	if strings.Contains(errb.String(), "a long enough password") || strings.Contains(errb.String(), g.Token) {
		t.Fatal("a password or session token is in the log")
	}
}

// TestPortalTrustedProxiesSetting: the list comes from the environment or
// the flag (which wins) and is parsed before anything starts; a bad entry
// from either is a usage error naming it.
func TestPortalTrustedProxiesSetting(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		env     string
		args    []string
		want    string // the parsed list, or
		wantErr string // the entry the usage error names
	}{
		{name: "unset trusts none", want: "[]"},
		{name: "from the environment", env: "127.0.0.1, 10.0.8.0/24", want: "[127.0.0.1/32 10.0.8.0/24]"},
		{name: "the flag wins", env: "127.0.0.1", args: []string{"--portal-trusted-proxies", "::1"}, want: "[::1/128]"},
		{name: "the flag empties it", env: "127.0.0.1", args: []string{"--portal-trusted-proxies="}, want: "[]"},
		{name: "bad environment entry", env: "127.0.0.1, proxy.example", wantErr: `SIMCORE_PORTAL_TRUSTED_PROXIES: trusted proxy "proxy.example"`},
		{name: "bad flag entry", args: []string{"--portal-trusted-proxies", "10.0.0.1, 10.0.0.0/33"}, wantErr: `trusted proxy "10.0.0.0/33"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"SIMCORE_PORTAL_TRUSTED_PROXIES": tt.env}
			if tt.wantErr != "" {
				_, _, err := runCLI(t.Context(), env, append([]string{"portal"}, tt.args...)...)
				if !isUsage(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a usage error containing %q", err, tt.wantErr)
				}
				return
			}
			fs := flag.NewFlagSet("portal", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c := &cmdEnv{getenv: func(k string) string { return env[k] }, io: stdio{out: io.Discard, err: io.Discard}, fs: fs}
			var pf portalConfig
			c.portalFlags(&pf, "listen")
			if err := errors.Join(c.errs...); err != nil {
				t.Fatal(err)
			}
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(pf.trustedProxies); got != tt.want {
				t.Fatalf("trusted proxies %s, want %s", got, tt.want)
			}
		})
	}
}
