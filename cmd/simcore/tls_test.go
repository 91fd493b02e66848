package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
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

// testPKI writes, into a new directory, a CA (ca.pem), a server
// certificate for 127.0.0.1 (server.pem, server-key.pem) and a client
// certificate (client.pem, client-key.pem) it signs, and a second,
// unrelated CA (other-ca.pem).
func testPKI(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		write(name, "EC PRIVATE KEY", der)
	}
	serial := int64(1)
	newCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey) {
		k := newKey()
		serial++
		tpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	issue := func(name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage, ips []net.IP) {
		k := newKey()
		serial++
		tpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		write(name+".pem", "CERTIFICATE", der)
		writeKey(name+"-key.pem", k)
	}
	ca, caKey := newCA("simcore test CA")
	write("ca.pem", "CERTIFICATE", ca.Raw)
	issue("server", ca, caKey, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	issue("client", ca, caKey, x509.ExtKeyUsageClientAuth, nil)
	other, _ := newCA("another CA")
	write("other-ca.pem", "CERTIFICATE", other.Raw)
	return dir
}

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
	pki := testPKI(t)
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
	pki := testPKI(t)
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
