package gateway_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/netsim/hlr"
	"github.com/simcore/simcore/workers/gateway"
)

// An operator's provisioning gateway behind HTTPS with its own CA and
// client certificates (mutual TLS, as such gateways usually want) is
// reached with Config.TLS; without the client certificate, or trusting
// another CA, nothing is sent. There was no way to give either.
func TestClientMutualTLS(t *testing.T) {
	t.Parallel()
	pki := testenv.PKI(t)
	load := func(name string) tls.Certificate {
		pair, err := tls.LoadX509KeyPair(filepath.Join(pki, name+".pem"), filepath.Join(pki, name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}
	pool := func(file string) *x509.CertPool {
		b, err := os.ReadFile(filepath.Join(pki, file))
		if err != nil {
			t.Fatal(err)
		}
		p := x509.NewCertPool()
		p.AppendCertsFromPEM(b)
		return p
	}
	s, err := hlr.New(hlr.Config{Token: token, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{load("server")}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool("ca.pem")}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below
	ts.StartTLS()
	t.Cleanup(ts.Close)
	if !strings.HasPrefix(ts.URL, "https://127.0.0.1:") {
		t.Fatalf("server at %s", ts.URL)
	}

	client := func(cfg *tls.Config) *gateway.Client {
		c, err := gateway.New(gateway.Config{BaseURL: ts.URL, Token: token, TLS: cfg})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	good := client(&tls.Config{RootCAs: pool("ca.pem"), Certificates: []tls.Certificate{load("client")}})
	if err := good.CreateSubscriber(ctx(t), key(), msisdn(1), imsi(1), iccid(1)); err != nil {
		t.Fatalf("create over mutual TLS: %v", err)
	}
	ns, err := good.Subscriber(ctx(t), msisdn(1))
	if err != nil || ns.ICCID != iccid(1) {
		t.Fatalf("read over mutual TLS: %+v, %v", ns, err)
	}

	for _, tt := range []struct {
		name string
		cfg  *tls.Config
		want string
	}{
		{"no client certificate", &tls.Config{RootCAs: pool("ca.pem")}, "certificate"},
		{"a CA that did not sign the gateway's certificate", &tls.Config{RootCAs: pool("other-ca.pem"), Certificates: []tls.Certificate{load("client")}}, "certificate"},
	} {
		if err := client(tt.cfg).CreateSubscriber(ctx(t), key(), msisdn(2), imsi(2), iccid(2)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error naming %q", tt.name, err, tt.want)
		}
	}
	if _, err := good.Subscriber(ctx(t), msisdn(2)); err == nil {
		t.Error("subscriber 2 exists: a refused client's change reached the gateway")
	}
}
