package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"github.com/simcore/simcore/internal/testenv"
)

// writeClients writes a clients file with mode perm (umask aside).
func writeClients(t *testing.T, text string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "radius-clients")
	if err := os.WriteFile(p, []byte(text), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRADIUSClientsUsage: a clients file excludes the shared secret, and
// a mistake in it stops the command with a usage error naming the file
// and the line, before anything listens or any database is opened.
func TestRADIUSClientsUsage(t *testing.T) {
	t.Parallel()
	good := writeClients(t, "127.0.0.1 s\n", 0o600)
	bad := writeClients(t, "# NASes\n10.1.2.3/8 s\n", 0o600)
	empty := writeClients(t, "# none yet\n", 0o600)
	secretFile := writeClients(t, "shared\n", 0o600)
	spool := t.TempDir()
	receive := []string{"ingest", "--store=false", "--spool", spool, "--radius-addr", "127.0.0.1:0"}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		usage   bool
		wantMsg []string
	}{
		{"with SIMCORE_RADIUS_SECRET", map[string]string{"SIMCORE_RADIUS_SECRET": "s", "SIMCORE_RADIUS_CLIENTS": good},
			receive, true, []string{"--radius-clients", "SIMCORE_RADIUS_SECRET", "cannot be used together"}},
		{"with --radius-secret-file", nil, append(receive, "--radius-clients", good, "--radius-secret-file", secretFile),
			true, []string{"--radius-clients", "--radius-secret-file", "cannot be used together"}},
		{"with SIMCORE_RADIUS_SECRET_FILE", map[string]string{"SIMCORE_RADIUS_SECRET_FILE": secretFile},
			append(receive, "--radius-clients", good), true, []string{"--radius-clients", "--radius-secret-file"}},
		{"bad line", nil, append(receive, "--radius-clients", bad), true, []string{bad, "line 2", "host bits"}},
		{"no clients", nil, append(receive, "--radius-clients", empty), true, []string{empty, "no clients"}},
		{"missing file", nil, append(receive, "--radius-clients", good+".missing"), false, []string{good + ".missing"}},
		{"run, bad line", map[string]string{"SIMCORE_RADIUS_CLIENTS": bad, "SIMCORE_STATE_DIR": t.TempDir()},
			[]string{"run"}, true, []string{bad, "line 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"SIMCORE_OPS_ADDR": "127.0.0.1:0", "SIMCORE_LOG_LEVEL": "error"}
			for k, v := range tt.env {
				env[k] = v
			}
			_, errOut, err := runCLI(t.Context(), env, tt.args...)
			if err == nil || isUsage(err) != tt.usage {
				t.Fatalf("err = %v (%T), want usage error %v\n%s", err, err, tt.usage, errOut)
			}
			for _, want := range tt.wantMsg {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

// TestIngestRADIUSClients runs the receiver (ingest --store=false, which
// needs no database) with a clients file: its NAS is answered, another
// loopback address is dropped and counted as unknown_client, and a file
// every user can read is warned about at start, a private one is not.
func TestIngestRADIUSClients(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		perm os.FileMode
		warn bool
	}{{0o600, false}, {0o644, true}} {
		t.Run(tt.perm.String(), func(t *testing.T) {
			t.Parallel()
			clients := writeClients(t, "# test NAS\n127.0.0.1 nas-one-secret\n127.0.0.2 nas-two-secret\n", tt.perm)
			addr := freePort(t, "udp")
			env := map[string]string{"SIMCORE_OPS_ADDR": "127.0.0.1:0", "SIMCORE_RADIUS_CLIENTS": clients}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var out, errb testenv.Buffer
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"ingest", "--store=false", "--spool", t.TempDir(), "--radius-addr", addr},
					func(k string) string { return env[k] }, stdio{in: strings.NewReader(""), out: &out, err: &errb})
			}()
			opsRe := regexp.MustCompile(`ops=http://(127\.0\.0\.1:\d+)`)
			var ops string
			waitFor(t, 10*time.Second, func() bool {
				if m := opsRe.FindStringSubmatch(errb.String()); m != nil {
					ops = m[1]
				}
				return ops != "" && strings.Contains(errb.String(), "radius accounting listening")
			}, func() string { return "the receiver did not start:\n" + errb.String() })

			if resp := nasExchange(t, "127.0.0.1", addr, "nas-one-secret", 5*time.Second); resp == nil { // the WAL fsync can be slow on a busy machine
				t.Fatalf("NAS 127.0.0.1 not answered:\n%s", errb.String())
			}
			if resp := nasExchange(t, "127.0.0.3", addr, "nas-one-secret", 300*time.Millisecond); resp != nil {
				t.Fatal("answered 127.0.0.3, which is no client")
			}
			// Readiness follows the write-ahead log, which has just
			// committed the answered request.
			if code, body := get(t, "http://"+ops+"/readyz"); code != http.StatusOK || !strings.Contains(body, `"radius_wal":"ok"`) {
				t.Errorf("readyz: %d %s, want 200 with radius_wal ok", code, body)
			}
			// No answer is no sign that the receiver has read the request
			// yet: wait for it to be counted.
			const unknownClient = `simcore_radius_requests_total{outcome="unknown_client",type="unknown"} `
			var metrics string
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				_, metrics = get(t, "http://"+ops+"/metrics")
				if strings.Contains(metrics, unknownClient) || time.Now().After(deadline) {
					break
				}
			}
			if !strings.Contains(metrics, unknownClient+"1\n") {
				t.Errorf("unknown_client not counted once:\n%s", grepLines(metrics, "simcore_radius_requests_total"))
			}
			logs := errb.String()
			if !strings.Contains(logs, "clients=2") {
				t.Errorf("start log does not count the clients:\n%s", logs)
			}
			if warned := strings.Contains(logs, "open to every user"); warned != tt.warn {
				t.Errorf("mode %v: warned %v, want %v:\n%s", tt.perm, warned, tt.warn, logs)
			}
			if strings.Contains(logs, "nas-one-secret") {
				t.Errorf("a secret is in the log:\n%s", logs)
			}
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("receiver: %v\n%s", err, errb.String())
			}
		})
	}
}

// nasExchange sends an Interim-Update signed with secret from the IP
// address from to addr and returns the answer, or nil after wait.
func nasExchange(t *testing.T, from, addr, secret string, wait time.Duration) *radius.Packet {
	t.Helper()
	p := radius.New(radius.CodeAccountingRequest, []byte(secret))
	for _, err := range []error{
		rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_InterimUpdate),
		rfc2866.AcctSessionID_SetString(p, "clients-"+from),
		rfc2865.NASIdentifier_SetString(p, "nas-"+from),
		rfc2866.AcctSessionTime_Set(p, 60),
		rfc2866.AcctInputOctets_Set(p, 1000),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	c := radius.Client{Retry: 0, MaxPacketErrors: 1, Dialer: net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}}}
	resp, err := c.Exchange(ctx, p, addr)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatalf("exchange from %s: %v", from, err)
	}
	return resp
}

// TestRADIUSClientsReloadOnSIGHUP runs the receiver as its own process
// (the signal goes to the process) and edits its clients file: after
// SIGHUP the added NAS is answered and the removed one dropped; a file with
// a mistake is refused with the clients before kept, logged and counted.
func TestRADIUSClientsReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	ctx := testenv.Context(t, 2*time.Minute)
	clients := writeClients(t, "127.0.0.1 first-nas-secret\n", 0o600)
	addr := freePort(t, "udp")
	env := map[string]string{"SIMCORE_OPS_ADDR": freePort(t, "tcp"), "SIMCORE_RADIUS_CLIENTS": clients}
	p := startIngest(t, ctx, bin, env, "ingest", "--store=false", "--spool", t.TempDir(), "--radius-addr", addr)
	// An answer is waited for 5 s (the write-ahead log's fsync can be slow
	// on a busy machine); silence only 300 ms.
	answered := func(from, secret string) bool {
		return nasExchange(t, from, addr, secret, 5*time.Second) != nil
	}
	dropped := func(from, secret string) bool {
		return nasExchange(t, from, addr, secret, 300*time.Millisecond) == nil
	}
	waitFor(t, 10*time.Second, func() bool { return nasExchange(t, "127.0.0.1", addr, "first-nas-secret", 300*time.Millisecond) != nil },
		func() string { return "the first NAS never answered:\n" + p.stderr.String() })
	if !dropped("127.0.0.2", "second-nas-secret") {
		t.Fatal("127.0.0.2 answered before it is a client")
	}
	rewrite := func(text string) {
		t.Helper()
		// Written beside and renamed over, as editors and config
		// management do; the reload reads whatever the path names.
		tmp := clients + ".new"
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, clients); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	rewrite("127.0.0.2 second-nas-secret\n")
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(p.stderr.String(), "radius clients reloaded") },
		func() string { return "no reload logged:\n" + p.stderr.String() })
	if !answered("127.0.0.2", "second-nas-secret") {
		t.Errorf("the NAS added to the file is not answered after SIGHUP:\n%s", p.stderr)
	}
	if !dropped("127.0.0.1", "first-nas-secret") {
		t.Errorf("the NAS removed from the file is still answered after SIGHUP")
	}
	if _, metrics := get(t, "http://"+env["SIMCORE_OPS_ADDR"]+"/metrics"); !strings.Contains(metrics, "simcore_radius_clients_last_reload_successful 1") {
		t.Errorf("after a good reload:\n%s", grepLines(metrics, "simcore_radius_clients_"))
	}

	rewrite("127.0.0.2/8 bad-line-secret\n")
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(p.stderr.String(), "not reloaded") },
		func() string { return "no refused reload logged:\n" + p.stderr.String() })
	if !answered("127.0.0.2", "second-nas-secret") {
		t.Errorf("a refused reload dropped the clients loaded before:\n%s", p.stderr)
	}
	_, metrics := get(t, "http://"+env["SIMCORE_OPS_ADDR"]+"/metrics")
	for _, want := range []string{`simcore_radius_clients_reloads_total{outcome="ok"} 1`, `simcore_radius_clients_reloads_total{outcome="error"} 1`,
		"simcore_radius_clients_last_reload_successful 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(metrics, "simcore_radius_clients_"))
		}
	}
	if strings.Contains(p.stderr.String(), "second-nas-secret") || strings.Contains(p.stderr.String(), "bad-line-secret") {
		t.Errorf("a secret is in the log:\n%s", p.stderr)
	}
	p.stop(t)
}
