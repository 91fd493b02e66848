package smpp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/netsim/smsc"
	"github.com/simcore/simcore/provisioning"
)

// tlsFiles loads what testenv.PKI wrote: the server's certificate and a
// client pool of the named CA file.
func tlsFiles(t *testing.T, pki, caFile string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(pki, "server.pem"), filepath.Join(pki, "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(pki, caFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return pair, pool
}

// An SMSC that speaks SMPP only over TLS (as SMSCs reached across the
// internet do) is bound, sent to and heard from (receipts) with Config.TLS,
// its certificate verified against the CA given; a CA that did not sign it
// is refused before any bind, so the credentials never reach an impostor.
// There was no way to reach such an SMSC.
func TestSenderOverTLS(t *testing.T) {
	t.Parallel()
	pki := testenv.PKI(t)
	cert, roots := tlsFiles(t, pki, "ca.pem")
	sim := startSMSC(t, smsc.Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})

	receipts := make(chan provisioning.DeliveryReceipt, 4)
	s, _ := startSender(t, sim, func(c *Config) {
		c.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		c.OnReceipt = func(r provisioning.DeliveryReceipt) error { receipts <- r; return nil }
	})
	res, err := s.SendSMS(context.Background(), provisioning.SMS{To: "4512345678", Text: "Ваш номер"})
	if err != nil {
		t.Fatalf("SendSMS over TLS: %v", err)
	}
	select {
	case r := <-receipts:
		if r.MessageID != res.MessageIDs[0] {
			t.Errorf("receipt for %s, want %s", r.MessageID, res.MessageIDs[0])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery receipt over TLS within 10s")
	}
	if msgs := sim.Messages(); len(msgs) != 1 || msgs[0].Text != "Ваш номер" {
		t.Fatalf("the SMSC holds %+v, want the one message intact", msgs)
	}

	t.Run("a CA that did not sign the SMSC's certificate", func(t *testing.T) {
		_, other := tlsFiles(t, pki, "other-ca.pem")
		bad, _ := newSender(t, sim.Addr(), func(c *Config) { c.TLS = &tls.Config{RootCAs: other, MinVersion: tls.VersionTLS12} })
		if err := bad.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := bad.WaitBound(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("WaitBound with the wrong CA = %v, want the deadline and a certificate error", err)
		}
		if st := sim.Stats(); st.Binds != 2 {
			t.Errorf("the SMSC saw %d binds, want only the good sender's 2 (the bad one must not send its credentials)", st.Binds)
		}
	})
}
