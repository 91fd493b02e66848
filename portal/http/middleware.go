package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyLog
	keyAccess
)

// access is what the access log learns while the request is served.
type access struct {
	user int64 // the authenticated user, 0 when none
}

// noteUser records that the request is user's, for the access log.
func noteUser(ctx context.Context, user int64) {
	if a, ok := ctx.Value(keyAccess).(*access); ok {
		a.user = user
	}
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

// logFrom is the request's logger: it carries the request id.
func logFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(keyLog).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// ContextLogger wraps log so every record logged with a request's context
// (InfoContext and friends) carries its request id: code outside this
// package (the account service and its background mails) logs with the id
// too. The Server's own logger should not be wrapped: it adds the id itself.
func ContextLogger(log *slog.Logger) *slog.Logger {
	return slog.New(ctxHandler{log.Handler()})
}

type ctxHandler struct{ slog.Handler }

func (h ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return ctxHandler{h.Handler.WithAttrs(as)}
}
func (h ctxHandler) WithGroup(n string) slog.Handler { return ctxHandler{h.Handler.WithGroup(n)} }

// requestID is the client's X-Request-Id when it is short and printable,
// else a new random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 {
		ok := true
		for i := 0; i < len(id) && ok; i++ {
			c := id[i]
			ok = c == '-' || c == '_' || c == '.' || c == ':' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		}
		if ok {
			return id
		}
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// metrics are the portal's request metrics. Labels are the route template
// (the mux pattern, never the raw path: no ICCID or id in a label) and the
// status class.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_portal_requests_total",
			Help: "Portal API requests, by route template and status class (2xx, 4xx, 5xx...).",
		}, []string{"route", "code_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "simcore_portal_request_duration_seconds",
			Help:    "Portal API request duration, by route template.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1 ms to 8 s
		}, []string{"route"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register portal metrics: %w", err)
			}
		}
	}
	return m, nil
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// unmatchedRoute labels requests no route matched.
const unmatchedRoute = "unmatched"

// ServeHTTP gives the request its id and logger, routes it, answers
// unknown paths and methods as problems, turns a panic into a 500 problem,
// and logs and counts the outcome.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r)
	w.Header().Set("X-Request-Id", id)
	log := s.log.With("request_id", id)
	acc := &access{}
	ctx := context.WithValue(context.WithValue(context.WithValue(r.Context(), keyRequestID, id), keyLog, log), keyAccess, acc)
	r = r.WithContext(ctx)
	sw := &statusWriter{ResponseWriter: w}

	_, route := s.mux.Handler(r)
	if route == "" {
		route = unmatchedRoute
	}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(ctx, "panic", "route", route, "panic", fmt.Sprint(v))
				if sw.status == 0 {
					writeProblem(sw, r, fmt.Errorf("panic: %v", v))
				}
			}
		}()
		if route == unmatchedRoute {
			s.unmatched(sw, r)
			return
		}
		s.mux.ServeHTTP(sw, r)
	}()
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	d := time.Since(start)
	s.metrics.requests.WithLabelValues(route, fmt.Sprintf("%dxx", sw.status/100)).Inc()
	s.metrics.duration.WithLabelValues(route).Observe(d.Seconds())
	// The route template, not the path: paths hold ICCIDs and ids. The
	// client's address and the user's id (never the e-mail) are what an
	// operator needs to follow an abuse report or a break-in back.
	attrs := []slog.Attr{slog.String("method", r.Method), slog.String("route", route),
		slog.Int("status", sw.status), slog.Int64("bytes", sw.bytes), slog.Duration("duration", d),
		slog.String("client", s.cfg.TrustedProxies.ClientAddr(r))}
	if acc.user != 0 {
		attrs = append(attrs, slog.Int64("user", acc.user))
	}
	log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// unmatched answers a request no pattern matched: 405 with Allow when the
// path exists under other methods, else 404.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		writeProblem(w, r, errNotFound)
		return
	}
	for _, m := range allow {
		w.Header().Add("Allow", m)
	}
	writeProblem(w, r, errMethodNotAllowed)
}
