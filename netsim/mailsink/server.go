package mailsink

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// DefaultMaxMessages is how many messages a Server keeps when
// Config.MaxMessages is zero.
const DefaultMaxMessages = 10_000

// Config configures a Server.
type Config struct {
	// Addr is the TCP address to listen on; default "127.0.0.1:0" (a free
	// loopback port, read back with Server.Addr).
	Addr string
	// RejectRecipients are answered 550 5.1.1 at RCPT TO (no such mailbox),
	// compared without regard to case.
	RejectRecipients []string
	// DeferRecipients are answered 451 4.2.1 at RCPT TO (try again later),
	// to exercise a client's transient path.
	DeferRecipients []string
	// MaxMessages bounds storage: the server keeps the last MaxMessages
	// messages and forgets older ones; default DefaultMaxMessages.
	MaxMessages int
	// Username and Password, when set, make AUTH PLAIN mandatory before
	// MAIL FROM.
	Username, Password string
	// TLSConfig, when set, makes the server offer STARTTLS; AUTH is then
	// accepted only over TLS. Without it AUTH is allowed in clear, which is
	// what a loopback development server needs.
	TLSConfig *tls.Config
	// ImplicitTLS makes the listener speak TLS from the first byte (the
	// port 465 style); it needs TLSConfig.
	ImplicitTLS bool
	// Log receives the server's own errors (warn) and one debug line per
	// message.
	Log *slog.Logger
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Log == nil:
		return errors.New("mailsink: no logger")
	case c.MaxMessages < 0:
		return fmt.Errorf("mailsink: max messages %d is negative", c.MaxMessages)
	case c.ImplicitTLS && c.TLSConfig == nil:
		return errors.New("mailsink: implicit TLS needs a TLS config")
	case (c.Username == "") != (c.Password == ""):
		return errors.New("mailsink: username and password go together")
	}
	return nil
}

// Message is one accepted message, as delivered.
type Message struct {
	// From and To are the envelope (MAIL FROM, RCPT TO): where the message
	// was delivered, which may differ from its From and To headers.
	From string
	To   []string
	// Subject is the Subject header with RFC 2047 encoded words decoded.
	Subject string
	// Text is the first text/plain part, decoded from quoted-printable or
	// base64 and from its charset to UTF-8, with LF line endings.
	Text string
	// DecodeErr says why Subject or Text could not be decoded; empty when
	// they were. The message is kept either way.
	DecodeErr string
	// Raw is the message as received (headers and body, CRLF line
	// endings). It is shared: do not modify it.
	Raw      []byte
	Received time.Time
}

// Server is an SMTP server that keeps what it receives. It is safe for
// concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	reject map[string]bool
	deferr map[string]bool
	srv    *smtp.Server

	mu       sync.Mutex
	ln       net.Listener
	started  bool
	closed   bool
	msgs     []Message // a ring of at most max messages
	next     int       // where the next message goes once msgs is full
	max      int
	sessions sync.WaitGroup
	served   chan struct{} // closed when Serve returns
	stopCtx  func() bool
}

// New returns a server configured by cfg; Start makes it listen.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Log,
		reject: lowerSet(cfg.RejectRecipients),
		deferr: lowerSet(cfg.DeferRecipients),
		max:    cfg.MaxMessages,
	}
	if s.max == 0 {
		s.max = DefaultMaxMessages
	}
	srv := smtp.NewServer(s)
	srv.Domain = "mailsink.localhost"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	srv.EnableSMTPUTF8 = true
	srv.TLSConfig = cfg.TLSConfig
	srv.AllowInsecureAuth = cfg.TLSConfig == nil
	srv.ErrorLog = errorLog{cfg.Log}
	s.srv = srv
	return s, nil
}

// Start listens on Config.Addr and serves in the background until ctx is
// done or Close is called. It returns the listen error, or an error if the
// server was already started.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("mailsink: already started")
	}
	var (
		ln  net.Listener
		err error
	)
	if s.cfg.ImplicitTLS {
		ln, err = tls.Listen("tcp", s.cfg.Addr, s.cfg.TLSConfig)
	} else {
		ln, err = net.Listen("tcp", s.cfg.Addr)
	}
	if err != nil {
		return fmt.Errorf("mailsink: listen: %w", err)
	}
	s.ln, s.started = ln, true
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil {
			s.log.Warn("mailsink serve ended", "err", err)
		}
	}()
	s.stopCtx = context.AfterFunc(ctx, func() { _ = s.Close() })
	s.log.Debug("mailsink listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address the server listens on, host:port; empty before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops listening, drops open connections and waits for their
// sessions to end. Stored messages stay readable. Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started, served, stop, ln := s.started, s.served, s.stopCtx, s.ln
	s.mu.Unlock()
	if !started {
		return nil
	}
	stop()
	err := s.srv.Close()
	// go-smtp closes only the listeners its Serve has registered; one that
	// Serve has not reached yet would keep accepting. Closing it here too
	// ends Serve either way.
	if lerr := ln.Close(); err == nil {
		err = lerr
	}
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	<-served
	s.sessions.Wait()
	return err
}

// Messages returns the stored messages, oldest first: at most
// Config.MaxMessages, the most recent ones.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.msgs))
	out = append(out, s.msgs[s.next:]...)
	out = append(out, s.msgs[:s.next]...)
	for i := range out {
		out[i].To = slices.Clone(out[i].To)
	}
	return out
}

func (s *Server) store(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) < s.max {
		s.msgs = append(s.msgs, m)
		return
	}
	s.msgs[s.next] = m
	s.next = (s.next + 1) % s.max
}

// NewSession implements smtp.Backend; go-smtp calls it at HELO/EHLO.
func (s *Server) NewSession(*smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Shutting down"}
	}
	s.sessions.Add(1) // Done in Logout, which go-smtp calls when the connection closes
	return &session{srv: s}, nil
}

var _ smtp.Backend = (*Server)(nil)

// session is one SMTP connection's state.
type session struct {
	srv    *Server
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

var (
	errNoMailbox = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox here"}
	errDeferred  = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "Mailbox busy, try again later"}
)

func (se *session) AuthMechanisms() []string {
	if se.srv.cfg.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if se.srv.cfg.Username == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return smtp.ErrAuthFailed
		}
		userOK := subtle.ConstantTimeCompare([]byte(username), []byte(se.srv.cfg.Username)) == 1
		passOK := subtle.ConstantTimeCompare([]byte(password), []byte(se.srv.cfg.Password)) == 1
		if !userOK || !passOK {
			return smtp.ErrAuthFailed
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.srv.cfg.Username != "" && !se.authed {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch k := strings.ToLower(to); {
	case se.srv.reject[k]:
		return errNoMailbox
	case se.srv.deferr[k]:
		return errDeferred
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // go-smtp answers a too-large message itself
	}
	m := Message{From: se.from, To: slices.Clone(se.to), Raw: raw, Received: time.Now()}
	m.Subject, m.Text, err = decode(raw)
	if err != nil {
		m.DecodeErr = err.Error()
		se.srv.log.Warn("mailsink could not decode a message", "err", err, "bytes", len(raw))
	}
	se.srv.store(m)
	se.srv.log.Debug("mailsink message", "recipients", len(m.To), "bytes", len(raw))
	return nil
}

func (se *session) Reset() {
	se.from, se.to = "", nil
}

func (se *session) Logout() error {
	se.srv.sessions.Done()
	return nil
}

func lowerSet(addrs []string) map[string]bool {
	m := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		m[strings.ToLower(a)] = true
	}
	return m
}

// errorLog adapts slog to go-smtp's logger, which reports connection errors.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, v ...any) {
	l.log.Warn("mailsink smtp", "err", fmt.Sprintf(format, v...))
}

func (l errorLog) Println(v ...any) {
	l.log.Warn("mailsink smtp", "err", strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}
