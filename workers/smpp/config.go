package smpp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/provisioning"
)

// Defaults for zero Config fields.
const (
	DefaultWindow       = 10
	DefaultRate         = 100.0 // submits per second
	DefaultRespTimeout  = 5 * time.Second
	DefaultEnquireLink  = 30 * time.Second
	DefaultReconnectMin = time.Second
	DefaultReconnectMax = 30 * time.Second
	DefaultTrackIDs     = 100_000
)

// Config configures a Sender.
//
// Window and Rate are the two limits an SMSC operator negotiates with its
// clients (SMPP 3.4 leaves them to the agreement). Gateways tend to default
// them low (Jasmin: 1 submit/s), which is safe and then surprises whoever
// sends a campaign; ours default to DefaultWindow and DefaultRate, and both
// are exported as metrics (simcore_smpp_window_size,
// simcore_smpp_rate_limit_submits_per_second) beside what is in use.
type Config struct {
	// Addr is the SMSC, host:port.
	Addr string
	// SystemID, Password and SystemType are the bind credentials.
	SystemID, Password, SystemType string
	// TLS, when not nil, secures both sessions (SMPP over TLS, as SMSCs
	// reached across the internet require); its ServerName defaults to
	// the host of Addr, and the SMSC's certificate is always verified.
	TLS *tls.Config
	// SourceAddr is the sender address of an SMS whose From is empty:
	// digits (E.164, sent as international) or up to 11 alphanumeric
	// characters.
	SourceAddr string

	// Window is the most submit_sm outstanding (sent, not yet answered) at
	// once; SendSMS waits for room. Zero means DefaultWindow.
	Window int
	// Rate is the most submit_sm per second, each part counting; SendSMS
	// waits for its turn. Zero means DefaultRate; a negative Rate (or +Inf)
	// removes the limit, for an SMSC that enforces its own and was agreed to
	// take bursts.
	Rate float64
	// RespTimeout bounds the wait for any response (bind, submit,
	// enquire_link, unbind) and the dial. Zero means DefaultRespTimeout.
	RespTimeout time.Duration
	// EnquireLink is the interval of link probes. Zero means
	// DefaultEnquireLink.
	EnquireLink time.Duration
	// ReconnectMin and ReconnectMax bound the backoff between attempts to
	// re-establish a lost session: it starts at ReconnectMin and doubles up
	// to ReconnectMax, with jitter. Zero means the default.
	ReconnectMin, ReconnectMax time.Duration
	// TrackIDs is how many submitted message ids are remembered to match
	// receipts that write the id in another base or case. Zero means
	// DefaultTrackIDs.
	TrackIDs int

	// OnReceipt is called for every delivery receipt, on the receiver's
	// reader goroutine, before the receipt is acknowledged to the SMSC: a
	// slow OnReceipt delays receipts (never submits), and one that blocks
	// for RespTimeout gets the receiver session taken for dead. The SMSC
	// resends a receipt it did not see acknowledged, so OnReceipt must be
	// idempotent. An error it returns is answered with ESME_RX_T_APPN, so
	// that the SMSC delivers the receipt again later (a store that is down,
	// or a message whose id is not recorded yet), except
	// provisioning.ErrMessageNotFound for a receipt this Sender did not
	// submit the message of: no later try can match it, so it is
	// acknowledged and dropped.
	OnReceipt func(provisioning.DeliveryReceipt) error

	// Log defaults to discarding; Registry receives the metrics, nil
	// registers nothing.
	Log      *slog.Logger
	Registry prometheus.Registerer
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	var errs []error
	if host, port, err := net.SplitHostPort(c.Addr); err != nil || host == "" || port == "" {
		errs = append(errs, fmt.Errorf("smpp: addr %q is not host:port", c.Addr))
	}
	if c.SystemID == "" || len(c.SystemID) > 15 {
		errs = append(errs, fmt.Errorf("smpp: system id must be 1 to 15 octets"))
	}
	if len(c.SystemType) > 12 {
		errs = append(errs, fmt.Errorf("smpp: system type longer than 12 octets"))
	}
	if c.SourceAddr != "" {
		if _, err := sourceAddress(c.SourceAddr); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Window < 0 {
		errs = append(errs, errors.New("smpp: negative window"))
	}
	if math.IsNaN(c.Rate) {
		errs = append(errs, errors.New("smpp: rate is NaN"))
	}
	if c.RespTimeout < 0 || c.EnquireLink < 0 || c.ReconnectMin < 0 || c.ReconnectMax < 0 {
		errs = append(errs, errors.New("smpp: negative duration"))
	}
	if c.ReconnectMin > 0 && c.ReconnectMax > 0 && c.ReconnectMin > c.ReconnectMax {
		errs = append(errs, errors.New("smpp: reconnect min above max"))
	}
	if c.TrackIDs < 0 {
		errs = append(errs, errors.New("smpp: negative track ids"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.RespTimeout == 0 {
		c.RespTimeout = DefaultRespTimeout
	}
	if c.EnquireLink == 0 {
		c.EnquireLink = DefaultEnquireLink
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = min(DefaultReconnectMin, max(c.ReconnectMax, time.Millisecond))
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = max(DefaultReconnectMax, c.ReconnectMin)
	}
	if c.TrackIDs == 0 {
		c.TrackIDs = DefaultTrackIDs
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// unlimited reports whether the rate limit is off.
func (c Config) unlimited() bool { return c.Rate < 0 || math.IsInf(c.Rate, 1) }
