package email

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The TLS modes of Config.TLS.
const (
	// TLSNone speaks plain SMTP. It is allowed only to a loopback host (a
	// local relay or a development sink) unless Config.InsecurePlaintext
	// forces it, and credentials are never sent in clear to a host that
	// is not loopback.
	TLSNone = "none"
	// TLSStartTLS requires STARTTLS (port 587); a server that does not
	// offer it is an error, never a silent downgrade. It is the default.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465).
	TLSImplicit = "tls"
)

// DefaultTimeout bounds one send when Config.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// Config configures a Mailer.
type Config struct {
	// Addr is the SMTP server, host:port.
	Addr string
	// From is the sender, an RFC 5322 address with an optional display
	// name: "simcore <noreply@operator.example>".
	From string
	// Username and Password, when set, authenticate with the first of
	// SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN that the server offers.
	Username, Password string
	// TLS is TLSNone, TLSStartTLS or TLSImplicit; empty means TLSStartTLS.
	TLS string
	// InsecurePlaintext permits TLS "none" to a host that is not loopback
	// (a relay on a network the operator trusts). It is refused together
	// with a Username: credentials are never sent in clear off the host.
	InsecurePlaintext bool
	// TLSConfig is optional: nil verifies the server against the system
	// roots. Its ServerName defaults to Addr's host; MinVersion is raised
	// to TLS 1.2.
	TLSConfig *tls.Config
	// Timeout bounds one send, connection to QUIT; default DefaultTimeout.
	Timeout time.Duration
	// Registry receives the metrics; nil registers nothing.
	Registry prometheus.Registerer
	Log      *slog.Logger
}

// Validate reports a configuration that cannot work or is not safe.
func (c Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("email: addr %q: %w", c.Addr, err)
	}
	if host == "" {
		return fmt.Errorf("email: addr %q has no host", c.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("email: addr %q: bad port", c.Addr)
	}
	if _, err := parseFrom(c.From); err != nil {
		return err
	}
	switch c.TLS {
	case "", TLSStartTLS, TLSImplicit:
	case TLSNone:
		if !isLoopback(host) {
			if !c.InsecurePlaintext {
				return fmt.Errorf("email: TLS %q to %s, which is not loopback: set InsecurePlaintext to force it", TLSNone, host)
			}
			if c.Username != "" {
				return fmt.Errorf("email: credentials are never sent without TLS to %s, which is not loopback", host)
			}
		}
	default:
		return fmt.Errorf("email: TLS mode %q: want %q, %q or %q", c.TLS, TLSNone, TLSStartTLS, TLSImplicit)
	}
	switch {
	case c.Username == "" && c.Password != "":
		return errors.New("email: a password without a username")
	case c.Timeout < 0:
		return fmt.Errorf("email: timeout %s is negative", c.Timeout)
	case c.Log == nil:
		return errors.New("email: no logger")
	}
	return nil
}

// LogValue keeps the password out of logs when a Config is logged whole.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("from", c.From),
		slog.String("username", c.Username),
		slog.Bool("password_set", c.Password != ""),
		slog.String("tls", cmp.Or(c.TLS, TLSStartTLS)),
		slog.Duration("timeout", c.Timeout),
	)
}

// String is LogValue for fmt: the password never appears.
func (c Config) String() string {
	return fmt.Sprintf("email.Config{Addr:%s From:%s Username:%s Password:%s TLS:%s Timeout:%s}",
		c.Addr, c.From, c.Username, redact(c.Password), cmp.Or(c.TLS, TLSStartTLS), c.Timeout)
}

// GoString is String for %#v, which would otherwise print every field.
func (c Config) GoString() string { return c.String() }

func redact(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

func parseFrom(from string) (*mail.Address, error) {
	if from == "" {
		return nil, errors.New("email: no From address")
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("email: From %q: %w", from, err)
	}
	return a, nil
}

// isLoopback is true for "localhost" and loopback IP literals
// (127.0.0.0/8, ::1). Other names are not resolved: what a name points to
// can change after validation.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
