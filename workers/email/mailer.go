package email

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wneessen/go-mail"

	"github.com/simcore/simcore/provisioning"
)

// The outcome label values of the metrics.
const (
	outcomeSent      = "sent"
	outcomePermanent = "permanent"
	outcomeTransient = "transient"
	outcomeCanceled  = "canceled"
)

// Mailer sends each email on its own SMTP connection: notification volume
// is low, and a fresh connection has no idle-timeout or half-closed state
// to recover from. It is safe for concurrent use.
type Mailer struct {
	addr       string
	host       string
	port       int
	from       *netmail.Address
	fromDomain string
	mode       string
	tls        *tls.Config // for STARTTLS and implicit TLS
	user, pass string
	timeout    time.Duration
	log        *slog.Logger
	sent       *prometheus.CounterVec
	duration   *prometheus.HistogramVec
}

var _ provisioning.Mailer = (*Mailer)(nil)

// New validates cfg and returns a Mailer. It does not connect: a server
// that is down shows as transient errors from SendEmail.
func New(cfg Config) (*Mailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, portStr, _ := net.SplitHostPort(cfg.Addr)
	port, _ := strconv.Atoi(portStr)
	from, _ := parseFrom(cfg.From)
	tc := cfg.TLSConfig.Clone()
	if tc == nil {
		tc = &tls.Config{}
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	m := &Mailer{
		addr:       cfg.Addr,
		host:       host,
		port:       port,
		from:       from,
		fromDomain: from.Address[strings.LastIndexByte(from.Address, '@')+1:],
		mode:       cfg.TLS,
		tls:        tc,
		user:       cfg.Username,
		pass:       cfg.Password,
		timeout:    cfg.Timeout,
		log:        cfg.Log,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_email_sent_total",
			Help: "Emails handed to SMTP, by outcome: sent, permanent (a 5xx reply), transient, canceled.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "simcore_email_send_duration_seconds",
			Help:    "Time to send one email, connection to QUIT, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 13), // 5 ms to 20 s
		}, []string{"outcome"}),
	}
	if m.mode == "" {
		m.mode = TLSStartTLS
	}
	if m.timeout == 0 {
		m.timeout = DefaultTimeout
	}
	for _, o := range []string{outcomeSent, outcomePermanent, outcomeTransient, outcomeCanceled} {
		m.sent.WithLabelValues(o)
		m.duration.WithLabelValues(o)
	}
	if cfg.Registry != nil {
		for _, c := range []prometheus.Collector{m.sent, m.duration} {
			if err := cfg.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("register email metrics: %w", err)
			}
		}
	}
	return m, nil
}

// SendEmail sends e as a UTF-8 text/plain message. It returns an error
// wrapping provisioning.ErrPermanent when retrying cannot help: e is not a
// valid message (bad address, a line break in the subject) or the server
// answered 5xx to RCPT TO or DATA (for example 550, no such mailbox).
// Refused connections, 4xx replies, TLS and authentication failures, 5xx
// to MAIL FROM and timeouts are transient: they are about the sending
// side, an operator can fix them, and a retry then succeeds. When ctx ends
// first, the error wraps its cause.
func (m *Mailer) SendEmail(ctx context.Context, e provisioning.Email) error {
	start := time.Now()
	err := m.send(ctx, e)
	outcome := outcomeSent
	switch {
	case err == nil:
	case errors.Is(err, provisioning.ErrPermanent):
		outcome = outcomePermanent
	case ctx.Err() != nil:
		outcome = outcomeCanceled
	default:
		outcome = outcomeTransient
	}
	d := time.Since(start)
	m.sent.WithLabelValues(outcome).Inc()
	m.duration.WithLabelValues(outcome).Observe(d.Seconds())
	// The recipient's domain only: an address is personal data, and the
	// caller logs the returned error once, with its own context.
	m.log.Debug("email", "outcome", outcome, "to_domain", domainOf(e.To), "duration", d)
	return withoutRecipient(err, e.To)
}

// redactedError is an error whose text names no recipient: go-mail's
// errors list the affected recipients, and callers log what SendEmail
// returns. It unwraps to the original, so errors.Is and As still see it.
type redactedError struct {
	err error
	msg string
}

func (r *redactedError) Error() string { return r.msg }
func (r *redactedError) Unwrap() error { return r.err }

// withoutRecipient replaces the address to (in any letter case, and to as given
// when it has a display name) in err's text with its domain only.
func withoutRecipient(err error, to string) error {
	if err == nil || to == "" {
		return err
	}
	addrs := []string{regexp.QuoteMeta(to)}
	if a, perr := netmail.ParseAddress(to); perr == nil && a.Address != to {
		addrs = append(addrs, regexp.QuoteMeta(a.Address))
	}
	msg := err.Error()
	re := regexp.MustCompile("(?i)" + strings.Join(addrs, "|"))
	if !re.MatchString(msg) {
		return err
	}
	return &redactedError{err: err, msg: re.ReplaceAllLiteralString(msg, "<recipient at "+domainOf(to)+">")}
}

func (m *Mailer) send(parent context.Context, e provisioning.Email) error {
	msg, err := m.message(e)
	if err != nil {
		return fmt.Errorf("send email: %w: %w", provisioning.ErrPermanent, err)
	}
	// One deadline for the whole exchange; go-mail's own timeout is per
	// step. Ending ctx closes the connection, which unblocks any read.
	ctx, cancel := context.WithTimeout(parent, m.timeout)
	defer cancel()
	conn := &connSlot{}
	stop := context.AfterFunc(ctx, conn.close)
	defer stop()
	defer conn.close()

	// A client per send: go-mail's Client keeps per-connection state
	// (the negotiated auth type), and building one is cheap.
	c, err := mail.NewClient(m.host, m.options(conn)...)
	if err != nil {
		return fmt.Errorf("send email: client options: %w", err) // New validated them
	}
	sc, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return m.wrap(parent, ctx, fmt.Errorf("connect %s: %w", m.addr, err))
	}
	sendErr := c.SendWithSMTPClient(sc, msg)
	quitErr := c.CloseWithSMTPClient(sc)
	if msg.IsDelivered() {
		// The server took the message (250 after DATA). A failed RSET or
		// QUIT after that must not make the caller send it twice.
		if sendErr != nil || quitErr != nil {
			m.log.Debug("email delivered; closing the session failed", "err", errors.Join(sendErr, quitErr))
		}
		return nil
	}
	if sendErr == nil {
		sendErr = errors.New("message not delivered")
	}
	if permanentReply(sendErr) {
		return fmt.Errorf("send email: %w: %w", provisioning.ErrPermanent, sendErr)
	}
	return m.wrap(parent, ctx, sendErr)
}

// wrap makes a transient error, saying when it was the context's doing.
func (m *Mailer) wrap(parent, ctx context.Context, err error) error {
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("send email: %w: %w", context.Cause(parent), err)
	case ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
		// go-mail's per-step deadline and ours can expire together.
		return fmt.Errorf("send email: timed out after %s: %w", m.timeout, err)
	}
	return fmt.Errorf("send email: %w", err)
}

// permanentReply reports a 5xx reply about this message: to RCPT TO (no
// such mailbox, a refused domain) or to its content (DATA). A 5xx to the
// greeting, STARTTLS, AUTH or MAIL FROM is about the sender (credentials
// missing, sender address refused): it is left transient, because every
// message would fail the same way until an operator fixes the
// configuration, and then a retry succeeds.
func permanentReply(err error) bool {
	var se *mail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case mail.ErrGetRcpts:
		return true
	case mail.ErrSMTPRcptTo, mail.ErrSMTPData, mail.ErrSMTPDataClose:
		code := se.ErrorCode()
		return code >= 500 && code < 600
	}
	return false
}

func (m *Mailer) options(conn *connSlot) []mail.Option {
	opts := []mail.Option{
		mail.WithPort(m.port),
		mail.WithTimeout(m.timeout),
		mail.WithTLSConfig(m.tls),
		mail.WithoutNoop(), // a fresh connection needs no liveness check
		mail.WithDialContextFunc(func(ctx context.Context, network, _ string) (net.Conn, error) {
			// m.addr, not go-mail's host:port, which breaks IPv6 literals.
			return conn.dial(ctx, network, m.addr, m.mode == TLSImplicit, m.tls)
		}),
	}
	switch m.mode {
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	}
	if m.user != "" {
		plain, login := mail.SMTPAuthPlain, mail.SMTPAuthLogin
		if m.mode == TLSNone {
			// Validate allowed credentials without TLS only to loopback.
			plain, login = mail.SMTPAuthPlainNoEnc, mail.SMTPAuthLoginNoEnc
		}
		opts = append(opts,
			mail.WithUsername(m.user), mail.WithPassword(m.pass),
			mail.WithOpportunisticSMTPAuth(mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1, plain, login))
	}
	return opts
}

// message builds the MIME message, choosing per message the transfer
// encoding that is shorter on the wire: quoted-printable for mostly-ASCII
// text (English, Danish), base64 for Hebrew and Russian. Subjects use the
// matching RFC 2047 encoded words (Q or B).
func (m *Mailer) message(e provisioning.Email) (*mail.Msg, error) {
	to, err := netmail.ParseAddress(e.To)
	if err != nil {
		return nil, fmt.Errorf("recipient address: %w", err)
	}
	if strings.ContainsAny(e.Subject, "\r\n") {
		return nil, errors.New("subject has a line break")
	}
	body := strings.ReplaceAll(strings.ReplaceAll(e.Text, "\r\n", "\n"), "\n", "\r\n")
	msg := mail.NewMsg(
		mail.WithCharset(mail.CharsetUTF8),
		mail.WithEncoding(shorterEncoding(e.Subject+body)),
		mail.WithNoDefaultUserAgent(),
	)
	msg.FromMailAddress(m.from)
	msg.ToMailAddress(to)
	msg.Subject(e.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(randomID() + "@" + m.fromDomain)
	msg.SetBodyString(mail.TypeTextPlain, body)
	return msg, nil
}

func shorterEncoding(s string) mail.Encoding {
	qp := 0
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b >= ' ' && b <= '~' && b != '=') || b == '\r' || b == '\n' || b == '\t' {
			qp++
		} else {
			qp += 3
		}
	}
	if b64 := (len(s) + 2) / 3 * 4; b64 < qp {
		return mail.EncodingB64
	}
	return mail.EncodingQP
}

// randomID is the local part of a Message-ID: 20 random bytes. The domain
// is the sender's, so no host name leaks.
func randomID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.TrimSuffix(addr[i+1:], ">")
	}
	return ""
}

// connSlot holds one send's connection so that the end of its context can
// close it: go-mail reads replies under a lock that its own Close waits for.
type connSlot struct {
	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

func (s *connSlot) dial(ctx context.Context, network, addr string, implicitTLS bool, tc *tls.Config) (net.Conn, error) {
	var (
		c   net.Conn
		err error
	)
	if implicitTLS {
		c, err = (&tls.Dialer{Config: tc}).DialContext(ctx, network, addr)
	} else {
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	s.conn = c
	return c, nil
}

func (s *connSlot) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn != nil {
		_ = s.conn.Close()
	}
}
