package mailsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// start runs a sink for the test on a free loopback port.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = testLog(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// send delivers one message with the standard library's client, which
// sends what it is given: the test controls the raw bytes.
func send(addr string, auth smtp.Auth, from string, to []string, subject, body string) error {
	msg := "Subject: " + subject + "\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" + body + "\r\n"
	return smtp.SendMail(addr, auth, from, to, []byte(msg))
}

// smtpCode is the reply code of err: 0 for no error, -1 for an error that
// is not an SMTP reply.
func smtpCode(err error) int {
	if err == nil {
		return 0
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return -1
}

func TestDelivery(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	before := time.Now()
	if err := send(s.Addr(), nil, "noreply@simcore.example", []string{"a@example.com", "b@example.com"}, "Hej på dig", "Dit SIM-kort er skiftet.\r\nVenlig hilsen"); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "noreply@simcore.example" || strings.Join(m.To, ",") != "a@example.com,b@example.com" {
		t.Errorf("envelope %q → %q", m.From, m.To)
	}
	if m.Subject != "Hej på dig" || m.Text != "Dit SIM-kort er skiftet.\nVenlig hilsen\n" || m.DecodeErr != "" {
		t.Errorf("decoded %q %q %q", m.Subject, m.Text, m.DecodeErr)
	}
	if !strings.HasPrefix(string(m.Raw), "Subject: Hej på dig\r\n") || m.Received.Before(before) {
		t.Errorf("raw %q received %v", m.Raw, m.Received)
	}
}

func TestRecipientReplies(t *testing.T) {
	t.Parallel()
	s := start(t, Config{RejectRecipients: []string{"Gone@Example.com"}, DeferRecipients: []string{"full@example.com"}})
	tests := []struct {
		name     string
		to       string
		wantCode int
	}{
		{"accepted", "ok@example.com", 0},
		{"rejected, case-insensitive", "gone@example.COM", 550},
		{"deferred", "full@example.com", 451},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := send(s.Addr(), nil, "noreply@simcore.example", []string{tt.to}, "s", "b")
			if got := smtpCode(err); got != tt.wantCode {
				t.Errorf("reply %d (%v), want %d", got, err, tt.wantCode)
			}
		})
	}
}

// plainAuth is PLAIN without net/smtp's own TLS-or-localhost check, to
// show what the server does with credentials sent in clear.
type plainAuth struct{ user, pass string }

func (a plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected challenge")
	}
	return nil, nil
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := start(t, Config{Username: "simcore", Password: "pa55"})
	tests := []struct {
		name     string
		auth     smtp.Auth
		wantCode int
	}{
		{"right", plainAuth{"simcore", "pa55"}, 0},
		{"wrong password", plainAuth{"simcore", "nope"}, 535},
		{"wrong user", plainAuth{"root", "pa55"}, 535},
		{"none", nil, 502},
	}
	t.Run("cases", func(t *testing.T) { // returns when its parallel subtests are done
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				err := send(s.Addr(), tt.auth, "noreply@simcore.example", []string{"a@example.com"}, "s", "b")
				if got := smtpCode(err); got != tt.wantCode {
					t.Errorf("reply %d (%v), want %d", got, err, tt.wantCode)
				}
			})
		}
	})
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
}

func TestBoundedStorage(t *testing.T) {
	t.Parallel()
	s := start(t, Config{MaxMessages: 3})
	for i := range 5 {
		if err := send(s.Addr(), nil, "f@example.com", []string{"t@example.com"}, fmt.Sprint("n", i), "x"); err != nil {
			t.Fatal(err)
		}
		if got, want := len(s.Messages()), min(i+1, 3); got != want {
			t.Fatalf("after %d sends %d messages, want %d", i+1, got, want)
		}
	}
	var subjects []string
	for _, m := range s.Messages() {
		subjects = append(subjects, m.Subject)
	}
	if got := strings.Join(subjects, " "); got != "n2 n3 n4" {
		t.Errorf("kept %q, want the last three, oldest first", got)
	}
}

func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- send(s.Addr(), nil, "f@example.com", []string{fmt.Sprintf("u%d@example.com", i)}, "s", "b")
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	seen := map[string]bool{}
	for _, m := range s.Messages() {
		seen[m.To[0]] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct recipients stored, want %d", len(seen), n)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "" {
		t.Errorf("Addr before Start = %q", s.Addr())
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err == nil {
		t.Error("second Start: no error")
	}
	addr := s.Addr()
	if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
		t.Errorf("default address %q is not loopback", addr)
	}
	// An idle client connection must not hold up shutdown.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := fmt.Fprintf(idle, "EHLO idle\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := send(addr, nil, "f@example.com", []string{"t@example.com"}, "s", "b"); err != nil {
		t.Fatal(err)
	}
	cancel() // ending the context closes the server
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after the context closed it: %v", err)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages readable after Close, want 1", n)
	}
	if err := s.Start(t.Context()); err == nil {
		t.Error("Start after Close: no error")
	}
	s2, _ := New(Config{Log: testLog(t)})
	if err := s2.Close(); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero but a logger", Config{Log: log}, ""},
		{"no logger", Config{}, "no logger"},
		{"negative bound", Config{Log: log, MaxMessages: -1}, "negative"},
		{"implicit TLS without config", Config{Log: log, ImplicitTLS: true}, "TLS config"},
		{"username alone", Config{Log: log, Username: "u"}, "together"},
		{"password alone", Config{Log: log, Password: "p"}, "together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestListenError(t *testing.T) {
	t.Parallel()
	s := start(t, Config{})
	taken, err := New(Config{Addr: s.Addr(), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := taken.Start(t.Context()); err == nil {
		t.Error("Start on a port in use: no error")
	}
}
