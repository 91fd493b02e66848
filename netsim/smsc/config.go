package smsc

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Message id formats of Config.IDFormat and Config.ReceiptIDFormat.
const (
	IDDecimal = "decimal" // 10 decimal digits: "1732251234"
	IDHex     = "hex"     // upper-case hexadecimal: "673F4A62"
)

// DefaultMaxMessages is how many accepted messages Messages keeps when
// Config.MaxMessages is zero.
const DefaultMaxMessages = 100_000

// Config configures a Server. The zero value of every field but SystemID is
// usable.
type Config struct {
	// Addr is where to listen; default "127.0.0.1:0" (a free port).
	Addr string
	// TLS, when not nil, makes the simulator speak SMPP over TLS only, as
	// SMSCs reached across the internet do.
	TLS *tls.Config
	// SystemID and Password are the one account the simulator accepts. An
	// unknown system_id is refused with ESME_RBINDFAIL (which does not tell
	// a prober that the account exists), a wrong password with
	// ESME_RINVPASWD.
	SystemID, Password string

	// RespDelay is how long the simulator holds each submit_sm before
	// answering, so that a client has several outstanding (Stats reports the
	// most seen at once). Zero answers at once.
	RespDelay time.Duration
	// ReceiptDelay is the time from submit_sm_resp to the delivery receipt.
	ReceiptDelay time.Duration
	// FailureRate is the fraction of submit_sm answered with a transient
	// error, ESME_RTHROTTLED or ESME_RSYSERR at random; 0 to 1.
	FailureRate float64
	// RejectPrefixes are destination prefixes answered with
	// ESME_RINVDSTADR, a permanent error.
	RejectPrefixes []string
	// UndeliverablePrefixes are destination prefixes accepted but receipted
	// as stat:UNDELIV err:001 (message_state 5).
	UndeliverablePrefixes []string

	// IDFormat is the form of message ids in submit_sm_resp and in the
	// receipted_message_id TLV: IDDecimal (default) or IDHex.
	IDFormat string
	// ReceiptIDFormat is the form of the id in the receipt text ("id:...");
	// empty means IDFormat. Setting it apart from IDFormat reproduces SMSCs
	// that answer in hex and receipt in decimal.
	ReceiptIDFormat string
	// OmitReceiptTLVs sends receipts with the text only, without
	// receipted_message_id and message_state, as many SMSCs do.
	OmitReceiptTLVs bool

	// MaxMessages bounds what Messages keeps (the most recent); zero means
	// DefaultMaxMessages, negative keeps none (benchmarks).
	MaxMessages int

	// Log defaults to discarding; Registry receives the metrics, nil
	// registers nothing.
	Log      *slog.Logger
	Registry prometheus.Registerer
}

// Validate reports a configuration the simulator cannot run.
func (c Config) Validate() error {
	var errs []error
	if c.SystemID == "" {
		errs = append(errs, errors.New("smsc: system id is required"))
	}
	if len(c.SystemID) > 15 {
		errs = append(errs, fmt.Errorf("smsc: system id %q longer than 15 octets", c.SystemID))
	}
	if c.RespDelay < 0 || c.ReceiptDelay < 0 {
		errs = append(errs, errors.New("smsc: negative delay"))
	}
	if math.IsNaN(c.FailureRate) || c.FailureRate < 0 || c.FailureRate > 1 {
		errs = append(errs, fmt.Errorf("smsc: failure rate %v outside [0, 1]", c.FailureRate))
	}
	for _, f := range []string{c.IDFormat, c.ReceiptIDFormat} {
		switch f {
		case "", IDDecimal, IDHex:
		default:
			errs = append(errs, fmt.Errorf("smsc: id format %q: want %q or %q", f, IDDecimal, IDHex))
		}
	}
	for _, p := range append(append([]string(nil), c.RejectPrefixes...), c.UndeliverablePrefixes...) {
		if p == "" || !isDigits(p) {
			errs = append(errs, fmt.Errorf("smsc: destination prefix %q is not digits", p))
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.IDFormat == "" {
		c.IDFormat = IDDecimal
	}
	if c.ReceiptIDFormat == "" {
		c.ReceiptIDFormat = c.IDFormat
	}
	if c.MaxMessages == 0 {
		c.MaxMessages = DefaultMaxMessages
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
