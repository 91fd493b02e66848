package hlr

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for the idempotency-key store.
const (
	DefaultMaxKeys = 1_000_000
	DefaultKeyTTL  = 24 * time.Hour
)

// Config configures a Server.
type Config struct {
	// Token is the bearer token callers must present; it must not be empty.
	Token string
	// Latency is added to each request before it is handled.
	Latency time.Duration
	// FailureRate is the fraction of authenticated requests answered 503
	// with Retry-After, before any change is applied: 0 (never) to 1 (always).
	FailureRate float64
	// Seed seeds the failure draw, so that a run can be repeated.
	Seed     int64
	Log      *slog.Logger
	Registry prometheus.Registerer // nil: no metrics are registered
	// MaxKeys bounds the idempotency keys remembered; the oldest go first.
	// Zero means DefaultMaxKeys.
	MaxKeys int
	// KeyTTL is how long a key is remembered after its first use. Zero
	// means DefaultKeyTTL.
	KeyTTL time.Duration
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Token == "":
		return errors.New("hlr: empty token")
	case c.Latency < 0:
		return fmt.Errorf("hlr: negative latency %s", c.Latency)
	case checkRate(c.FailureRate) != nil:
		return checkRate(c.FailureRate)
	case c.Log == nil:
		return errors.New("hlr: no logger")
	case c.MaxKeys < 0:
		return fmt.Errorf("hlr: negative max keys %d", c.MaxKeys)
	case c.KeyTTL < 0:
		return fmt.Errorf("hlr: negative key TTL %s", c.KeyTTL)
	}
	return nil
}

func checkRate(r float64) error {
	if math.IsNaN(r) || r < 0 || r > 1 {
		return fmt.Errorf("hlr: failure rate %v is not within [0, 1]", r)
	}
	return nil
}

// LogValue keeps the token out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token", "REDACTED"),
		slog.Duration("latency", c.Latency),
		slog.Float64("failure_rate", c.FailureRate),
		slog.Int64("seed", c.Seed),
		slog.Int("max_keys", c.MaxKeys),
		slog.Duration("key_ttl", c.KeyTTL),
	)
}
