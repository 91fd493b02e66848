package email_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/netsim/mailsink"
	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/workers/email"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	ok := email.Config{Addr: "smtp.operator.example:587", From: from, Log: log}
	with := func(f func(*email.Config)) email.Config {
		c := ok
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		cfg     email.Config
		wantErr string
	}{
		{"starttls by default", ok, ""},
		{"implicit TLS", with(func(c *email.Config) { c.Addr, c.TLS = "smtp.operator.example:465", email.TLSImplicit }), ""},
		{"bare From address", with(func(c *email.Config) { c.From = "noreply@simcore.example" }), ""},
		{"credentials over TLS", with(func(c *email.Config) { c.Username, c.Password = "u", "p" }), ""},
		{"none to 127.0.0.1", with(func(c *email.Config) { c.Addr, c.TLS = "127.0.0.1:2525", email.TLSNone }), ""},
		{"none to localhost with credentials", with(func(c *email.Config) { c.Addr, c.TLS, c.Username, c.Password = "localhost:25", email.TLSNone, "u", "p" }), ""},
		{"none to ::1", with(func(c *email.Config) { c.Addr, c.TLS = "[::1]:25", email.TLSNone }), ""},
		{"none to 127.0.0.2", with(func(c *email.Config) { c.Addr, c.TLS = "127.0.0.2:25", email.TLSNone }), ""},
		{"none to a relay, forced", with(func(c *email.Config) { c.Addr, c.TLS, c.InsecurePlaintext = "10.1.2.3:25", email.TLSNone, true }), ""},
		{"none to a relay", with(func(c *email.Config) { c.Addr, c.TLS = "relay.internal:25", email.TLSNone }), "not loopback"},
		{"none to a relay, forced, with credentials", with(func(c *email.Config) {
			c.Addr, c.TLS, c.InsecurePlaintext, c.Username, c.Password = "10.1.2.3:25", email.TLSNone, true, "u", "p"
		}), "credentials"},
		{"a name that resolves to loopback is still a name", with(func(c *email.Config) { c.Addr, c.TLS = "localhost.example:25", email.TLSNone }), "not loopback"},
		{"unknown TLS mode", with(func(c *email.Config) { c.TLS = "ssl" }), "TLS mode"},
		{"no port", with(func(c *email.Config) { c.Addr = "smtp.operator.example" }), "addr"},
		{"bad port", with(func(c *email.Config) { c.Addr = "smtp.operator.example:smtp" }), "port"},
		{"port 0", with(func(c *email.Config) { c.Addr = "smtp.operator.example:0" }), "port"},
		{"no host", with(func(c *email.Config) { c.Addr = ":25" }), "no host"},
		{"no From", with(func(c *email.Config) { c.From = "" }), "From"},
		{"From without a domain", with(func(c *email.Config) { c.From = "noreply" }), "From"},
		{"password without username", with(func(c *email.Config) { c.Password = "p" }), "password"},
		{"negative timeout", with(func(c *email.Config) { c.Timeout = -time.Second }), "timeout"},
		{"no logger", with(func(c *email.Config) { c.Log = nil }), "logger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
			if _, err := email.New(tt.cfg); (err == nil) != (tt.wantErr == "") {
				t.Errorf("New() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigKeepsThePasswordOut(t *testing.T) {
	t.Parallel()
	cfg := email.Config{Addr: "smtp.operator.example:587", From: from, Username: "simcore", Password: "hunter2-secret"}
	var buf testenv.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("mailer", "config", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%s", cfg), buf.String()} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password printed: %s", s)
		}
		if !strings.Contains(s, "simcore") {
			t.Errorf("username missing: %s", s)
		}
	}
}

// TestSendLanguages sends real mail over 127.0.0.1 and reads it back
// decoded: every language arrives as written.
func TestSendLanguages(t *testing.T) {
	t.Parallel()
	sink := startSink(t, mailsink.Config{})
	m, reg := newMailer(t, email.Config{Addr: sink.Addr()})
	long := strings.Repeat("Это длинная строка без переносов, она должна пережить перенос строк в кодировке. ", 8)
	tests := []struct {
		name, subject, text string
		encoding            string // the Content-Transfer-Encoding chosen
	}{
		{"English", "Your SIM swap is complete", "Hello Dana,\n\nYour number 447700900123 is now on your new SIM card ending 0752.\n", "quoted-printable"},
		{"Hebrew", "החלפת כרטיס ה-SIM הושלמה", "שלום דנה,\n\nהמספר 447700900123 פעיל עכשיו בכרטיס ה-SIM החדש שלך, שמספרו מסתיים ב-0752.\n", "base64"},
		{"Danish", "Dit SIM-kort er skiftet – på Ærø", "Hej Søren\n\nDit nummer er nu på dit nye SIM-kort, der ender på 0752. Æ, ø og å.\n", "quoted-printable"},
		{"Russian", "Замена SIM-карты выполнена", "Здравствуйте, Дана!\n\nВаш номер 447700900123 теперь работает на новой SIM-карте.\n", "base64"},
		{"long lines and a long subject", "Очень длинная тема письма, которую придётся разбить на несколько закодированных слов RFC 2047", long + "\n", "base64"},
		{"mixed scripts, emoji, CRLF", "SIM 🎉 שלום Привет", "line one\r\nline two ✓\r\n", "base64"},
		{"ASCII with = and dots", "a=b", ".\n..\n=3D\nFrom the start\n", "quoted-printable"},
		{"empty body", "Empty", "", "quoted-printable"},
	}
	for i, tt := range tests {
		to := fmt.Sprintf("lang%d@example.com", i)
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := m.SendEmail(t.Context(), provisioning.Email{To: to, Subject: tt.subject, Text: tt.text})
			if err != nil {
				t.Fatal(err)
			}
			got := messageTo(t, sink, to)
			wantText := strings.ReplaceAll(tt.text, "\r\n", "\n")
			if got.DecodeErr != "" || got.Subject != tt.subject || got.Text != wantText {
				t.Errorf("received subject %q text %q (%s)\nwant %q %q", got.Subject, got.Text, got.DecodeErr, tt.subject, wantText)
			}
			if got.From != "noreply@simcore.example" {
				t.Errorf("envelope from %q", got.From)
			}
			if h := header(got.Raw, "Content-Type"); h != "text/plain; charset=UTF-8" {
				t.Errorf("Content-Type %q", h)
			}
			if h := header(got.Raw, "Content-Transfer-Encoding"); h != tt.encoding {
				t.Errorf("Content-Transfer-Encoding %q, want %q", h, tt.encoding)
			}
			if !strings.HasSuffix(header(got.Raw, "Message-ID"), "@simcore.example>") {
				t.Errorf("Message-ID %q not in the sender's domain", header(got.Raw, "Message-ID"))
			}
			// The header section is 7-bit: non-ASCII subjects travel as
			// RFC 2047 encoded words.
			head, _, _ := strings.Cut(string(got.Raw), "\r\n\r\n")
			for _, r := range head {
				if r > 127 {
					t.Fatalf("raw header has %q: %s", r, head)
				}
			}
		})
	}
	t.Cleanup(func() {
		if n := sent(t, reg, "sent"); n != float64(len(tests)) {
			t.Errorf("simcore_email_sent_total{outcome=sent} = %v, want %d", n, len(tests))
		}
	})
}

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	sink := startSink(t, mailsink.Config{
		RejectRecipients: []string{"gone@example.com"},
		DeferRecipients:  []string{"full@example.com"},
	})
	down := startSink(t, mailsink.Config{})
	downAddr := down.Addr()
	if err := down.Close(); err != nil {
		t.Fatal(err)
	}
	auth := startSink(t, mailsink.Config{Username: "simcore", Password: "pa55"})
	tests := []struct {
		name      string
		addr      string
		to        string
		subject   string
		permanent bool
		wantErr   string
	}{
		{"rejected recipient (550)", sink.Addr(), "gone@example.com", "s", true, "550"},
		{"deferred recipient (451)", sink.Addr(), "full@example.com", "s", false, "451"},
		{"not an address", sink.Addr(), "not an address", "s", true, "recipient address"},
		{"no recipient", sink.Addr(), "", "s", true, "recipient address"},
		{"line break in the subject", sink.Addr(), "ok@example.com", "a\r\nBcc: x@example.com", true, "line break"},
		{"sink stopped", downAddr, "ok@example.com", "s", false, "connect"},
		{"authentication required (502 at MAIL FROM)", auth.Addr(), "ok@example.com", "s", false, "502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, reg := newMailer(t, email.Config{Addr: tt.addr})
			err := m.SendEmail(t.Context(), provisioning.Email{To: tt.to, Subject: tt.subject, Text: "x"})
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, provisioning.ErrPermanent); got != tt.permanent {
				t.Errorf("errors.Is(%v, ErrPermanent) = %v, want %v", err, got, tt.permanent)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
			// Callers log the error: it must not name the recipient
			// (go-mail's errors list the affected recipients).
			if strings.Contains(tt.to, "@") && strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tt.to)) {
				t.Errorf("error %q names the recipient", err)
			}
			outcome := map[bool]string{true: "permanent", false: "transient"}[tt.permanent]
			if n := sent(t, reg, outcome); n != 1 {
				t.Errorf("outcome %s counted %v times, want 1", outcome, n)
			}
		})
	}
	t.Cleanup(func() { // after the parallel subtests
		if n := len(sink.Messages()); n != 0 {
			t.Errorf("%d messages stored", n)
		}
	})
}

// TestHangingServer: a server that accepts and never answers costs a
// caller no more than its context or the Mailer's timeout.
func TestHangingServer(t *testing.T) {
	t.Parallel()
	addr := silentServer(t)
	t.Run("context canceled", func(t *testing.T) {
		t.Parallel()
		m, reg := newMailer(t, email.Config{Addr: addr, Timeout: time.Minute})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := m.SendEmail(ctx, provisioning.Email{To: "a@example.com", Subject: "s", Text: "x"})
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, provisioning.ErrPermanent) {
			t.Errorf("error %v, want the context's, not permanent", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("returned after %s", d)
		}
		if n := sent(t, reg, "canceled"); n != 1 {
			t.Errorf("canceled counted %v", n)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		m, reg := newMailer(t, email.Config{Addr: addr, Timeout: 200 * time.Millisecond})
		start := time.Now()
		err := m.SendEmail(t.Context(), provisioning.Email{To: "a@example.com", Subject: "s", Text: "x"})
		if err == nil || errors.Is(err, provisioning.ErrPermanent) || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("error %v, want a transient time-out", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("returned after %s", d)
		}
		if n := sent(t, reg, "transient"); n != 1 {
			t.Errorf("transient counted %v", n)
		}
	})
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	const password = "correct-horse-battery"
	sink := startSink(t, mailsink.Config{Username: "simcore", Password: password})
	tests := []struct {
		name     string
		password string
		wantErr  bool
	}{
		{"right password", password, false},
		{"wrong password", "wrong-" + password, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs testenv.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			m, _ := newMailer(t, email.Config{Addr: sink.Addr(), Username: "simcore", Password: tt.password, Log: log})
			to := strings.ReplaceAll(tt.name, " ", "-") + "@example.com"
			err := m.SendEmail(t.Context(), provisioning.Email{To: to, Subject: "s", Text: "x"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if errors.Is(err, provisioning.ErrPermanent) {
					t.Errorf("a refused login is permanent: %v", err)
				}
				if strings.Contains(err.Error(), password) {
					t.Errorf("error shows the password: %v", err)
				}
			}
			if strings.Contains(logs.String(), password) || logs.String() == "" {
				t.Errorf("logs %q: empty or show the password", logs.String())
			}
		})
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	cert, roots := selfSigned(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	starttls := startSink(t, mailsink.Config{TLSConfig: serverTLS, Username: "simcore", Password: "pa55"})
	implicit := startSink(t, mailsink.Config{TLSConfig: serverTLS, ImplicitTLS: true})
	plain := startSink(t, mailsink.Config{})
	trusted := &tls.Config{RootCAs: roots}
	tests := []struct {
		name       string
		cfg        email.Config
		sink       *mailsink.Server
		wantErr    string
		deliverdTo string
	}{
		{"STARTTLS, then AUTH", email.Config{Addr: starttls.Addr(), TLS: email.TLSStartTLS, TLSConfig: trusted, Username: "simcore", Password: "pa55"}, starttls, "", ""},
		{"implicit TLS", email.Config{Addr: implicit.Addr(), TLS: email.TLSImplicit, TLSConfig: trusted}, implicit, "", ""},
		{"STARTTLS, untrusted certificate", email.Config{Addr: starttls.Addr(), TLS: email.TLSStartTLS, Username: "simcore", Password: "pa55"}, starttls, "certificate", ""},
		{"implicit TLS, untrusted certificate", email.Config{Addr: implicit.Addr(), TLS: email.TLSImplicit}, implicit, "certificate", ""},
		{"STARTTLS required, server without it", email.Config{Addr: plain.Addr(), TLS: email.TLSStartTLS, TLSConfig: trusted}, plain, "STARTTLS", ""},
		{"implicit TLS to a plain server", email.Config{Addr: plain.Addr(), TLS: email.TLSImplicit, TLSConfig: trusted}, plain, "tls", ""},
	}
	for i, tt := range tests {
		to := fmt.Sprintf("tls%d@example.com", i)
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.Timeout = 5 * time.Second
			m, _ := newMailer(t, tt.cfg)
			err := m.SendEmail(t.Context(), provisioning.Email{To: to, Subject: "Шифрование", Text: "über TLS"})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := messageTo(t, tt.sink, to); got.Text != "über TLS" || got.Subject != "Шифрование" {
					t.Errorf("received %q %q", got.Subject, got.Text)
				}
				return
			}
			if err == nil || errors.Is(err, provisioning.ErrPermanent) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want a transient one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestConcurrentSends(t *testing.T) {
	t.Parallel()
	sink := startSink(t, mailsink.Config{})
	m, reg := newMailer(t, email.Config{Addr: sink.Addr()})
	const senders, each = 32, 5
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				to := fmt.Sprintf("c%d-%d@example.com", g, i)
				errs <- m.SendEmail(t.Context(), provisioning.Email{To: to, Subject: "Параллельно " + to, Text: "שלום " + to})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	ids := map[string]bool{}
	for _, msg := range sink.Messages() {
		if msg.Subject != "Параллельно "+msg.To[0] || msg.Text != "שלום "+msg.To[0] {
			t.Errorf("message to %s: %q %q", msg.To[0], msg.Subject, msg.Text)
		}
		ids[header(msg.Raw, "Message-ID")] = true
	}
	if len(ids) != senders*each {
		t.Errorf("%d distinct messages stored, want %d", len(ids), senders*each)
	}
	if n := sent(t, reg, "sent"); n != senders*each {
		t.Errorf("sent counted %v", n)
	}
}

func TestMetricsRegistration(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	cfg := email.Config{Addr: "127.0.0.1:25", From: from, TLS: email.TLSNone, Registry: reg, Log: slog.New(slog.DiscardHandler)}
	if _, err := email.New(cfg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if got := strings.Join(names, " "); got != "simcore_email_send_duration_seconds simcore_email_sent_total" {
		t.Errorf("metrics %q", got)
	}
	if _, err := email.New(cfg); err == nil {
		t.Error("a second Mailer on the same registry: no error")
	}
	cfg.Registry = nil
	if _, err := email.New(cfg); err != nil {
		t.Errorf("no registry: %v", err)
	}
}
