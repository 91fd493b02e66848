package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/provisioning"
)

// DefaultTimeout bounds one request when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

const (
	maxResponseBytes = 1 << 20
	maxProblemBytes  = 64 << 10
)

// Config configures a Client.
type Config struct {
	// BaseURL is where the API's /v1 lives, e.g. "https://gw.example:8443"
	// or "http://127.0.0.1:8480"; a path prefix is kept.
	BaseURL string
	// Token is the bearer token; it is sent in the Authorization header only.
	Token string
	// Timeout bounds each request, answer body included. Zero means
	// DefaultTimeout.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means a client of the package's own.
	HTTPClient *http.Client
	// TLS is the package's own client's TLS for an https:// BaseURL (a
	// private CA, a client certificate); nil means the system's roots.
	TLS      *tls.Config
	Registry prometheus.Registerer // nil: no metrics are registered
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "":
		return errors.New("gateway: empty base URL")
	case err != nil:
		// url.Error quotes the whole URL, and with it any password in it.
		// Its reason may quote a part: a password holding '#', '?' or '/'
		// ends the authority early, and its first part is then reported
		// as a bad port. A URL that may carry credentials is not quoted.
		if strings.Contains(c.BaseURL, "@") {
			return errors.New("gateway: base URL does not parse (not shown: it may carry a password; credentials go in Token)")
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("gateway: base URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("gateway: base URL scheme %q: want http or https", u.Scheme)
	case u.Host == "":
		return errors.New("gateway: base URL has no host")
	case u.User != nil:
		return errors.New("gateway: base URL carries credentials; use Token")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("gateway: base URL has a query or fragment")
	case c.Token == "":
		return errors.New("gateway: empty token")
	case c.Timeout < 0:
		return fmt.Errorf("gateway: negative timeout %s", c.Timeout)
	}
	return nil
}

// LogValue keeps the token out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL),
		slog.String("token", "REDACTED"),
		slog.Duration("timeout", c.Timeout),
	)
}

// Client is a provisioning.Gateway over the gateway's HTTP API. It is safe
// for concurrent use. It never logs; its errors never hold the token.
type Client struct {
	base    string // without a trailing slash
	auth    string // "Bearer <token>"
	timeout time.Duration
	hc      *http.Client
	m       clientMetrics
}

var _ provisioning.Gateway = (*Client)(nil)

type clientMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// Operations, the metric label values.
const (
	opCreate           = "create_subscriber"
	opSwap             = "swap_sim"
	opVoicemail        = "set_voicemail"
	opSetForwarding    = "set_forwarding"
	opCancelForwarding = "cancel_forwarding"
	opBarring          = "set_barring"
	opDelete           = "delete_subscriber"
	opGet              = "get_subscriber"
)

// Outcomes, the metric label values.
const (
	outcomeOK        = "ok"
	outcomePermanent = "permanent"
	outcomeTransient = "transient" // an answer: 5xx, 429, ...
	outcomeTimeout   = "timeout"   // no answer within Timeout
	outcomeError     = "error"     // no answer: connection refused, reset, ...
	outcomeCanceled  = "canceled"  // the caller's context ended first
)

// New returns a Client; it does not contact the gateway.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		if cfg.TLS != nil {
			tr.TLSClientConfig = cfg.TLS
		}
		hc = &http.Client{
			Transport: tr,
			// An API answer is never a redirect; do not resend a change elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	c := &Client{
		base:    strings.TrimRight(cfg.BaseURL, "/"),
		auth:    "Bearer " + cfg.Token,
		timeout: cfg.Timeout,
		hc:      hc,
		m: clientMetrics{
			requests: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "simcore_gateway_requests_total",
				Help: "Requests to the provisioning gateway, by operation and outcome (ok, permanent, transient, timeout, error, canceled).",
			}, []string{"operation", "outcome"}),
			duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "simcore_gateway_request_duration_seconds",
				Help:    "Time from sending a request to the provisioning gateway to its outcome, by operation.",
				Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
			}, []string{"operation"}),
		},
	}
	for _, op := range []string{opCreate, opSwap, opVoicemail, opSetForwarding, opCancelForwarding, opBarring, opDelete, opGet} {
		c.m.duration.WithLabelValues(op)
		for _, o := range []string{outcomeOK, outcomePermanent, outcomeTransient, outcomeTimeout, outcomeError, outcomeCanceled} {
			c.m.requests.WithLabelValues(op, o)
		}
	}
	if cfg.Registry != nil {
		for _, col := range []prometheus.Collector{c.m.requests, c.m.duration} {
			if err := cfg.Registry.Register(col); err != nil {
				return nil, fmt.Errorf("register gateway metrics: %w", err)
			}
		}
	}
	return c, nil
}

// CreateSubscriber provisions msisdn on the SIM (imsi, iccid). It returns a
// *ProblemError wrapping provisioning.ErrPermanent with code msisdn_exists,
// imsi_in_use, iccid_in_use or an invalid_* code when refused.
func (c *Client) CreateSubscriber(ctx context.Context, key, msisdn, imsi, iccid string) error {
	body := map[string]string{"msisdn": msisdn, "imsi": imsi, "iccid": iccid}
	return c.do(ctx, opCreate, http.MethodPost, "/v1/subscribers", key, body, nil)
}

// SwapSIM moves msisdn to the SIM (imsi, iccid), keeping its services.
// Permanent codes: subscriber_not_found, imsi_in_use, iccid_in_use, invalid_*.
func (c *Client) SwapSIM(ctx context.Context, key, msisdn, imsi, iccid string) error {
	return c.change(ctx, opSwap, http.MethodPut, msisdn, "/sim", key, map[string]string{"imsi": imsi, "iccid": iccid})
}

// SetVoicemail sets msisdn's voicemail. Permanent codes:
// subscriber_not_found, invalid_language, missing_field (enabled without a
// language).
func (c *Client) SetVoicemail(ctx context.Context, key, msisdn string, v provisioning.VoicemailSettings) error {
	return c.change(ctx, opVoicemail, http.MethodPut, msisdn, "/voicemail", key, v)
}

// SetForwarding sets a forwarding condition of msisdn to number, or cancels
// it when number is empty. Permanent codes: subscriber_not_found,
// invalid_condition, invalid_number.
func (c *Client) SetForwarding(ctx context.Context, key, msisdn string, kind provisioning.ForwardingKind, number string) error {
	if kind == "" {
		return c.local(opSetForwarding, "empty forwarding condition")
	}
	path := "/forwarding/" + url.PathEscape(string(kind))
	if number == "" {
		return c.change(ctx, opCancelForwarding, http.MethodDelete, msisdn, path, key, nil)
	}
	return c.change(ctx, opSetForwarding, http.MethodPut, msisdn, path, key, map[string]string{"number": number})
}

// SetBarring sets what the network refuses msisdn. Permanent codes:
// subscriber_not_found.
func (c *Client) SetBarring(ctx context.Context, key, msisdn string, b provisioning.Barring) error {
	return c.change(ctx, opBarring, http.MethodPut, msisdn, "/barring", key, b)
}

// DeleteSubscriber removes msisdn from the network. A msisdn that is not
// provisioned is refused with subscriber_not_found, permanent; a caller
// whose earlier attempt may have landed under a forgotten key can take that
// as done.
func (c *Client) DeleteSubscriber(ctx context.Context, key, msisdn string) error {
	return c.change(ctx, opDelete, http.MethodDelete, msisdn, "", key, nil)
}

// Subscriber reads msisdn's state. Permanent codes: subscriber_not_found,
// invalid_msisdn.
func (c *Client) Subscriber(ctx context.Context, msisdn string) (provisioning.NetworkSubscriber, error) {
	var sub provisioning.NetworkSubscriber
	if msisdn == "" {
		return sub, c.local(opGet, "empty msisdn")
	}
	err := c.do(ctx, opGet, http.MethodGet, "/v1/subscribers/"+url.PathEscape(msisdn), "", nil, &sub)
	if err != nil {
		return sub, err
	}
	// A 200 whose JSON is null, {} or another msisdn's is no answer: taken
	// as a subscriber it would read as voicemail off, no forwarding, and
	// the worker deciding whether a change landed would be misled.
	if sub.MSISDN != msisdn || sub.IMSI == "" || sub.ICCID == "" {
		return provisioning.NetworkSubscriber{}, fmt.Errorf("gateway %s: 200 answer is not subscriber %s", opGet, msisdn)
	}
	if sub.Forwarding == nil {
		sub.Forwarding = map[provisioning.ForwardingKind]string{}
	}
	return sub, nil
}

func (c *Client) change(ctx context.Context, op, method, msisdn, suffix, key string, body any) error {
	if msisdn == "" {
		return c.local(op, "empty msisdn")
	}
	return c.do(ctx, op, method, "/v1/subscribers/"+url.PathEscape(msisdn)+suffix, key, body, nil)
}

// local refuses a call that is wrong before it is sent: a bug in the caller,
// which no retry mends.
func (c *Client) local(op, why string) error {
	c.m.requests.WithLabelValues(op, outcomePermanent).Inc()
	return &ProblemError{Op: op, Code: "invalid_call", Detail: why, Permanent: true}
}

// do sends one request and maps its outcome; out, if not nil, receives a
// 2xx answer's JSON body.
func (c *Client) do(ctx context.Context, op, method, path, key string, body, out any) (err error) {
	if method != http.MethodGet && key == "" {
		return c.local(op, "empty idempotency key")
	}
	start := time.Now()
	outcome := outcomeOK
	defer func() {
		c.m.requests.WithLabelValues(op, outcome).Inc()
		c.m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}()

	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			outcome = outcomePermanent
			return fmt.Errorf("gateway %s: encode request: %w: %w", op, err, provisioning.ErrPermanent)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(rctx, method, c.base+path, rd)
	if err != nil {
		outcome = outcomePermanent
		return fmt.Errorf("gateway %s: %w: %w", op, err, provisioning.ErrPermanent)
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json, application/problem+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		outcome, err = c.noAnswer(ctx, rctx, op, err)
		return err
	}
	defer resp.Body.Close()

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
			return nil
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		if err != nil {
			outcome, err = c.noAnswer(ctx, rctx, op, err)
			return err
		}
		if err := json.Unmarshal(b, out); err != nil {
			outcome = outcomeTransient
			return fmt.Errorf("gateway %s: %d answer is not the expected JSON: %w", op, resp.StatusCode, err)
		}
		return nil
	}

	pe := &ProblemError{Op: op, Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode)}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxProblemBytes))
	if rerr != nil {
		// The answer was cut (a timeout mid-body): its code is unknown,
		// and a status alone cannot say permanent (409 may be
		// idempotency_key_in_flight). Transient, as no answer is.
		outcome, err = c.noAnswer(ctx, rctx, op, rerr)
		return err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); rerr == nil && (mt == "application/problem+json" || mt == "application/json") {
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
			Title  string `json:"title"`
		}
		if json.Unmarshal(b, &p) == nil && p.Code != "" {
			pe.Code, pe.Detail = p.Code, p.Detail
			if pe.Detail == "" {
				pe.Detail = p.Title
			}
		}
	}
	pe.Permanent = permanent(pe.Status, pe.Code)
	if pe.Permanent {
		outcome = outcomePermanent
		return pe
	}
	outcome = outcomeTransient
	if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		return &RetryAfterError{Delay: d, Err: pe}
	}
	return pe
}

// noAnswer maps a failure to get an answer: the caller's context ending,
// the request timing out, or a broken connection. All are transient: the
// change may or may not have landed, and a retry with the same key settles it.
func (c *Client) noAnswer(ctx, rctx context.Context, op string, err error) (string, error) {
	// url.Error repeats method and URL; the operation says as much.
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	switch {
	case ctx.Err() != nil:
		return outcomeCanceled, fmt.Errorf("gateway %s: %w", op, ctx.Err())
	case errors.Is(rctx.Err(), context.DeadlineExceeded):
		return outcomeTimeout, fmt.Errorf("gateway %s: no answer within %s: %w", op, c.timeout, context.DeadlineExceeded)
	}
	return outcomeError, fmt.Errorf("gateway %s: %w", op, err)
}
