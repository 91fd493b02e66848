package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	chstore "github.com/simcore/simcore/metering/clickhouse"
	ppg "github.com/simcore/simcore/provisioning/postgres"
)

// startTLSRedis runs a redis-server of the test's own on 127.0.0.1 that
// speaks TLS only and requires a client certificate from pki's CA, as a
// managed Redis with in-transit encryption does. It returns its address.
func startTLSRedis(t *testing.T, pki string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (deploy/local/services.sh installs it): %v", err)
	}
	ca, err := os.ReadFile(filepath.Join(pki, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	pair, err := tls.LoadX509KeyPair(filepath.Join(pki, "client.pem"), filepath.Join(pki, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	probe := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, ServerName: "127.0.0.1"}
	for try := 0; try < 5; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, port, _ := net.SplitHostPort(addr)
		dir := t.TempDir()
		cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", "0", "--tls-port", port,
			"--tls-cert-file", filepath.Join(pki, "server.pem"), "--tls-key-file", filepath.Join(pki, "server-key.pem"),
			"--tls-ca-cert-file", filepath.Join(pki, "ca.pem"), "--tls-auth-clients", "yes",
			"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case err := <-exited:
				log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
				if strings.Contains(string(log), "Address already in use") {
					goto next
				}
				t.Fatalf("redis-server with TLS exited: %v\n%s", err, log)
			default:
			}
			if conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, probe); err == nil {
				_, werr := conn.Write([]byte("PING\r\n"))
				buf := make([]byte, 7)
				conn.SetReadDeadline(time.Now().Add(time.Second))
				n, rerr := conn.Read(buf)
				conn.Close()
				if werr == nil && rerr == nil && string(buf[:n]) == "+PONG\r\n" {
					return addr
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("redis-server with TLS did not answer on %s", addr)
	next:
	}
	t.Fatal("no free port for redis-server with TLS")
	return ""
}

// TestRedisTLS: a Redis that speaks only TLS and wants a client
// certificate (ElastiCache and Memorystore with in-transit encryption,
// or Redis's own tls-auth-clients) is reached with SIMCORE_REDIS_TLS and
// its CA and client certificate, both by the task queue's inspector and
// by a submission's enqueue; a wrong CA, a missing client certificate or
// plain TCP are refused, and settings that cannot work are usage errors.
// There was no way to reach such a Redis at all.
func TestRedisTLS(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, 2*time.Minute)
	pki := testenv.PKI(t)
	addr := startTLSRedis(t, pki)
	url := testenv.Postgres(t, "provisioning", ppg.MigrationsVersion(), ppg.Migrate)
	_, _ = addTestLine(ctx, t, url, 1, demoMSISDN(1), "tls")

	base := func() map[string]string {
		return map[string]string{"SIMCORE_POSTGRES_URL": url, "SIMCORE_REDIS_ADDR": addr, "SIMCORE_LOG_LEVEL": "warn",
			"SIMCORE_REDIS_TLS": "true", "SIMCORE_REDIS_TLS_CA": filepath.Join(pki, "ca.pem"),
			"SIMCORE_REDIS_TLS_CERT": filepath.Join(pki, "client.pem"), "SIMCORE_REDIS_TLS_KEY": filepath.Join(pki, "client-key.pem")}
	}
	queued := func(env map[string]string) int {
		t.Helper()
		out, errOut, err := runCLI(ctx, env, "provision", "queue")
		if err != nil {
			t.Fatalf("provision queue over TLS: %v\n%s", err, errOut)
		}
		var q struct {
			Counts struct {
				Pending, Scheduled int
			} `json:"counts"`
		}
		if err := json.Unmarshal([]byte(out), &q); err != nil {
			t.Fatalf("provision queue printed %q: %v", out, err)
		}
		return q.Counts.Pending + q.Counts.Scheduled
	}
	if n := queued(base()); n != 0 {
		t.Fatalf("a new Redis holds %d tasks", n)
	}
	if out, errOut, err := runCLI(ctx, base(), "provision", "voicemail", demoMSISDN(1), "on"); err != nil {
		t.Fatalf("provision voicemail with Redis over TLS: %v\n%s%s", err, out, errOut)
	}
	if n := queued(base()); n != 1 {
		t.Fatalf("after one submission the TLS Redis holds %d tasks, want 1", n)
	}

	refused := []struct {
		name   string
		change func(env map[string]string)
		want   string // in the error, lower case; "" for any connection error
	}{
		{"plain TCP to a TLS port", func(env map[string]string) {
			for _, k := range []string{"SIMCORE_REDIS_TLS", "SIMCORE_REDIS_TLS_CA", "SIMCORE_REDIS_TLS_CERT", "SIMCORE_REDIS_TLS_KEY"} {
				delete(env, k)
			}
		}, ""},
		{"a CA that did not sign the server's certificate", func(env map[string]string) {
			env["SIMCORE_REDIS_TLS_CA"] = filepath.Join(pki, "other-ca.pem")
		}, "certificate"},
		{"no client certificate", func(env map[string]string) {
			delete(env, "SIMCORE_REDIS_TLS_CERT")
			delete(env, "SIMCORE_REDIS_TLS_KEY")
		}, ""},
	}
	for _, tt := range refused {
		env := base()
		tt.change(env)
		_, _, err := runCLI(ctx, env, "provision", "queue")
		if err == nil || isUsage(err) || !strings.Contains(strings.ToLower(err.Error()), tt.want) {
			t.Errorf("%s: err = %v, want a connection error naming %q", tt.name, err, tt.want)
		}
	}

	usage := []struct {
		name   string
		change func(env map[string]string)
		want   string
	}{
		{"a CA with TLS off", func(env map[string]string) { env["SIMCORE_REDIS_TLS"] = "false" }, "--redis-tls-ca is set but TLS is off"},
		{"a certificate without its key", func(env map[string]string) { delete(env, "SIMCORE_REDIS_TLS_KEY") }, "give both or neither"},
		{"a CA file that holds no certificate", func(env map[string]string) {
			env["SIMCORE_REDIS_TLS_CA"] = filepath.Join(pki, "client-key.pem")
		}, "no pem certificate"},
		{"a CA file that is missing", func(env map[string]string) {
			env["SIMCORE_REDIS_TLS_CA"] = filepath.Join(pki, "missing.pem")
		}, "no such file"},
	}
	for _, tt := range usage {
		env := base()
		tt.change(env)
		_, _, err := runCLI(ctx, env, "provision", "queue")
		if !isUsage(err) || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.want)) {
			t.Errorf("%s: err = %v, want a usage error naming %q", tt.name, err, tt.want)
		}
	}
}

// startTLSProxy terminates TLS on 127.0.0.1 with pki's server certificate
// and forwards each connection to target: ClickHouse 18.16 here is not set
// up with a secure port, so the real server sits behind a TLS front, as it
// does behind ClickHouse Cloud's or a load balancer's. It returns the
// proxy's address and counts the handshakes that succeeded.
func startTLSProxy(t *testing.T, pki, target string) (string, *atomic.Int64) {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(pki, "server.pem"), filepath.Join(pki, "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var ok atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if err := c.(*tls.Conn).Handshake(); err != nil {
					return
				}
				ok.Add(1)
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(up, c); done <- struct{}{} }()
				go func() { io.Copy(c, up); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return l.Addr().String(), &ok
}

// TestClickHouseTLS: ClickHouse behind TLS (ClickHouse Cloud takes
// nothing else) is migrated and queried with SIMCORE_CLICKHOUSE_TLS and
// its CA, and refused with a CA that did not sign its certificate. There
// was no way to reach it.
func TestClickHouseTLS(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, 2*time.Minute)
	pki := testenv.PKI(t)
	proxy, handshakes := startTLSProxy(t, pki, testenv.ClickHouseAddr(t))
	ch := chstore.Config{Addr: testenv.ClickHouseAddr(t), Database: testenv.UniqueName("t_tls_")}
	t.Cleanup(func() { _ = chstore.DropDatabase(context.Background(), ch) })
	env := map[string]string{
		"SIMCORE_POSTGRES_URL":        testenv.Postgres(t, "empty", "0", func(context.Context, string) error { return nil }),
		"SIMCORE_CLICKHOUSE_ADDR":     proxy,
		"SIMCORE_CLICKHOUSE_DATABASE": ch.Database,
		"SIMCORE_CLICKHOUSE_TLS":      "true",
		"SIMCORE_CLICKHOUSE_TLS_CA":   filepath.Join(pki, "ca.pem"),
		"SIMCORE_LOG_LEVEL":           "warn",
	}
	if _, errOut, err := runCLI(ctx, env, "migrate"); err != nil {
		t.Fatalf("migrate through TLS: %v\n%s", err, errOut)
	}
	out, errOut, err := runCLI(ctx, env, "usage", demoICCID(1), "--json")
	if err != nil || !strings.Contains(out, `"iccid":"`+demoICCID(1)+`"`) {
		t.Fatalf("usage through TLS: %q %v\n%s", out, err, errOut)
	}
	if handshakes.Load() == 0 {
		t.Fatal("no TLS handshake reached the proxy")
	}

	env["SIMCORE_CLICKHOUSE_TLS_CA"] = filepath.Join(pki, "other-ca.pem")
	if _, _, err := runCLI(ctx, env, "usage", demoICCID(1), "--json"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("usage with a CA that did not sign the server's certificate: %v, want a certificate error", err)
	}
	delete(env, "SIMCORE_CLICKHOUSE_TLS")
	if _, _, err := runCLI(ctx, env, "usage", demoICCID(1), "--json"); !isUsage(err) || !strings.Contains(err.Error(), "--clickhouse-tls-ca is set but TLS is off") {
		t.Fatalf("a CA with TLS off: %v, want a usage error", err)
	}
}

// TestTLSSettingsThatCannotWork: TLS files given for a peer reached
// without TLS are usage errors (exit 2), found before anything is
// opened, not silently ignored.
func TestTLSSettingsThatCannotWork(t *testing.T) {
	t.Parallel()
	pki := testenv.PKI(t)
	ca := filepath.Join(pki, "ca.pem")
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"an SMSC CA with TLS off", map[string]string{"SIMCORE_SMSC_TLS_CA": ca}, "--smsc-tls-ca is set but TLS is off: add --smsc-tls"},
		{"an SMSC certificate without its key", map[string]string{"SIMCORE_SMSC_TLS": "true", "SIMCORE_SMSC_TLS_CERT": filepath.Join(pki, "client.pem")}, "--smsc-tls-cert and --smsc-tls-key go together"},
		{"a gateway CA for an http:// gateway", map[string]string{"SIMCORE_GATEWAY_TLS_CA": ca}, "--gateway-tls-ca is set but TLS is off: the gateway URL is not https://"},
		{"a gateway CA file that holds no certificate", map[string]string{"SIMCORE_GATEWAY_URL": "https://127.0.0.1:8443", "SIMCORE_GATEWAY_TLS_CA": filepath.Join(pki, "client-key.pem")}, "no PEM certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"SIMCORE_ACTIVATION_KEY": "00112233445566778899aabbccddeeff", "SIMCORE_OPS_ADDR": "127.0.0.1:0"}
			for k, v := range tt.env {
				env[k] = v
			}
			_, _, err := runCLI(testenv.Context(t, time.Minute), env, "worker")
			if !isUsage(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a usage error saying %q", err, tt.want)
			}
		})
	}
}
