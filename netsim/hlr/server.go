package hlr

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/provisioning"
)

// Server is the simulated provisioning gateway. It is safe for concurrent
// use; every change is applied, and its outcome stored under its
// idempotency key, under one lock.
type Server struct {
	token   []byte
	latency time.Duration
	log     *slog.Logger

	rngMu       sync.Mutex
	rng         *rand.Rand
	failureRate float64

	mu      sync.Mutex
	subs    map[string]*provisioning.NetworkSubscriber // by MSISDN
	byIMSI  map[string]string                          // IMSI → MSISDN
	byICCID map[string]string                          // ICCID → MSISDN
	keys    *keyStore

	m metrics
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	replays  prometheus.Counter
}

// New returns a Server with no subscribers.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.KeyTTL == 0 {
		cfg.KeyTTL = DefaultKeyTTL
	}
	s := &Server{
		token:       []byte(cfg.Token),
		latency:     cfg.Latency,
		log:         cfg.Log,
		rng:         rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)),
		failureRate: cfg.FailureRate,
		subs:        make(map[string]*provisioning.NetworkSubscriber),
		byIMSI:      make(map[string]string),
		byICCID:     make(map[string]string),
		keys:        newKeyStore(cfg.MaxKeys, cfg.KeyTTL),
		m: metrics{
			requests: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "simcore_netsim_hlr_requests_total",
				Help: "Requests the simulated provisioning gateway answered, by operation and HTTP status (499: the caller left first).",
			}, []string{"operation", "code"}),
			duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "simcore_netsim_hlr_request_duration_seconds",
				Help:    "Time to answer a request, injected latency included, by operation.",
				Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
			}, []string{"operation"}),
			replays: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "simcore_netsim_hlr_idempotent_replays_total",
				Help: "Requests answered with the stored outcome of their idempotency key.",
			}),
		},
	}
	for _, op := range operations {
		s.m.duration.WithLabelValues(op)
	}
	if cfg.Registry != nil {
		cs := []prometheus.Collector{
			s.m.requests, s.m.duration, s.m.replays,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "simcore_netsim_hlr_subscribers",
				Help: "Subscribers the simulated HLR holds.",
			}, func() float64 { s.mu.Lock(); defer s.mu.Unlock(); return float64(len(s.subs)) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "simcore_netsim_hlr_idempotency_keys",
				Help: "Idempotency keys remembered.",
			}, func() float64 { s.mu.Lock(); defer s.mu.Unlock(); return float64(s.keys.len()) }),
		}
		for _, c := range cs {
			if err := cfg.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("register hlr metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Handler returns the HTTP handler of the API under /v1.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// SetFailureRate changes the fraction of requests answered 503, to simulate
// an outage and its end. It returns an error if rate is not within [0, 1].
func (s *Server) SetFailureRate(rate float64) error {
	if err := checkRate(rate); err != nil {
		return err
	}
	s.rngMu.Lock()
	s.failureRate = rate
	s.rngMu.Unlock()
	return nil
}

// statusWriter remembers the status written, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) serve(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt := match(r.Method, r.URL.EscapedPath())
	w := &statusWriter{ResponseWriter: rw}
	defer func() {
		code := codeClientClosed
		if w.status != 0 {
			code = strconv.Itoa(w.status)
		}
		s.m.requests.WithLabelValues(rt.op, code).Inc()
		s.m.duration.WithLabelValues(rt.op).Observe(time.Since(start).Seconds())
	}()
	b := readAll(rw, r)
	if !sleep(r.Context(), s.latency) {
		return // the caller left; nothing was changed
	}
	resp, replayed := s.handle(w, r, rt, b)
	resp.write(w, replayed)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "hlr request", slog.String("operation", rt.op),
			slog.Int("status", resp.status), slog.Bool("replayed", replayed))
	}
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request, rt route, b body) (resp response, replayed bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(tok), s.token) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="simcore-hlr"`)
		return problemResponse(http.StatusUnauthorized, codeUnauthorized, "a valid bearer token is required"), false
	}
	if s.fail() {
		w.Header().Set("Retry-After", retryAfterSeconds)
		return problemResponse(http.StatusServiceUnavailable, codeUnavailable, "the HLR is unavailable; retry the same request after Retry-After seconds"), false
	}
	if rt.op == opUnknown {
		if rt.found {
			w.Header().Set("Allow", rt.allow)
			return problemResponse(http.StatusMethodNotAllowed, codeMethodNotAllowed, "use "+rt.allow), false
		}
		return problemResponse(http.StatusNotFound, codeNotFound, "no such resource"), false
	}
	if rt.op == opGet {
		if p := checkMSISDN(rt.msisdn); p != nil {
			return *p, false
		}
		return s.get(rt.msisdn), false
	}

	key := r.Header.Get(headerIdempotencyKey)
	switch {
	case key == "" && len(r.Header.Values(headerIdempotencyKey)) == 0:
		return problemResponse(http.StatusBadRequest, codeMissingIdempotencyKey, "every change needs an Idempotency-Key header"), false
	case !validKey(key) || len(r.Header.Values(headerIdempotencyKey)) > 1:
		return problemResponse(http.StatusBadRequest, codeInvalidIdempotencyKey, "an Idempotency-Key is 1 to 255 visible ASCII characters, sent once"), false
	}
	c, p := s.parse(r, b, rt)
	if p != nil {
		return *p, false
	}
	fp := fingerprint(rt, c)

	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if e, ok := s.keys.get(key, now); ok {
		if e.fp != fp {
			return problemResponse(http.StatusUnprocessableEntity, codeIdempotencyKeyReused, "this Idempotency-Key was used with a different request"), false
		}
		s.m.replays.Inc()
		return e.resp, true
	}
	resp = s.apply(c)
	s.keys.put(key, fp, resp, now)
	return resp, false
}

// sleep waits d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) fail() bool {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.failureRate > 0 && s.rng.Float64() < s.failureRate
}

// fingerprint identifies a change: its operation, path values and decoded
// body, so that whitespace and member order do not make two requests differ.
func fingerprint(rt route, c change) [sha256.Size]byte {
	b, err := json.Marshal(c)
	if err != nil { // cannot happen: strings and bools
		panic(err)
	}
	h := sha256.New()
	for _, s := range []string{rt.op, rt.msisdn, rt.condition} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(b)
	var fp [sha256.Size]byte
	h.Sum(fp[:0])
	return fp
}
