// Package ops serves the operational endpoints every long-running simcore
// component exposes: /metrics (Prometheus, from an explicit registry),
// /healthz (the process is alive) and /readyz (its dependencies answer).
//
// It knows nothing of the domains: callers hand it named readiness checks.
// It must not import domain or adapter packages.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one dependency answers; nil means ready.
type Check func(ctx context.Context) error

// NewRegistry returns a registry with the Go runtime and process collectors,
// which every component registers its own metrics on.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Server serves /metrics, /healthz and /readyz.
type Server struct {
	log      *slog.Logger
	reg      *prometheus.Registry
	mu       sync.Mutex
	checks   map[string]Check
	running  map[string]*checkRun // by check name, while it runs
	timeout  time.Duration
	mux      *http.ServeMux
	listener net.Listener
	srv      *http.Server
}

// NewServer returns a server for reg; call Listen, then Serve.
func NewServer(log *slog.Logger, reg *prometheus.Registry) *Server {
	s := &Server{log: log, reg: reg, checks: map[string]Check{}, running: map[string]*checkRun{}, timeout: 2 * time.Second, mux: http.NewServeMux()}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	return s
}

// AddCheck adds a named readiness check.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// Handle mounts an extra handler on the ops mux (for example the ingest push API
// when it shares the listener).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Listen binds addr; Addr then reports the bound address (useful with port 0).
func (s *Server) Listen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ops listen %s: %w", addr, err)
	}
	s.listener = l
	return nil
}

// Addr is the bound address, after Listen.
func (s *Server) Addr() string {
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Serve serves until ctx is done, then shuts down within drain.
func (s *Server) Serve(ctx context.Context, drain time.Duration) error {
	if s.listener == nil {
		return errors.New("ops: Serve before Listen")
	}
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	return ServeHTTP(ctx, s.srv, s.listener, drain)
}

// ServeHTTP serves srv on l until ctx is done, then drains within drain.
// http.ErrServerClosed counts as success.
func ServeHTTP(ctx context.Context, srv *http.Server, l net.Listener, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	runs := make(map[string]*checkRun, len(s.checks))
	for n, c := range s.checks {
		names = append(names, n)
		runs[n] = s.startLocked(n, c, now)
	}
	s.mu.Unlock()
	sort.Strings(names)

	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	body := map[string]string{}
	status := http.StatusOK
	for _, n := range names {
		ru := runs[n]
		select {
		case <-ru.done:
		case <-ctx.Done():
		}
		select {
		case <-ru.done:
		default:
			// A driver may keep a check past its context (clickhouse-go
			// waits out its own timeouts on a hung server): answer now,
			// naming the checks still out; they end on their own.
			status = http.StatusServiceUnavailable
			body[n] = "timed out after " + s.timeout.String()
			if ru.since.Before(now) {
				body[n] += " (still running from an earlier probe, for " + now.Sub(ru.since).Round(time.Millisecond).String() + ")"
			}
			s.log.Warn("readiness check failed", "check", n, "err", body[n])
			continue
		}
		if ru.err != nil {
			status = http.StatusServiceUnavailable
			body[n] = ru.err.Error()
			s.log.Warn("readiness check failed", "check", n, "err", ru.err)
			continue
		}
		body[n] = "ok"
	}
	writeJSON(w, status, body)
}

// checkRun is one run of a readiness check, which every probe made while
// it runs waits for: a check that outlives its probe (a driver waiting
// out its own timeouts on a hung store) is not started again by the next
// probes, each of which would hold another goroutine and connection until
// the store answers.
type checkRun struct {
	since time.Time
	done  chan struct{} // closed when err is set
	err   error
}

// startLocked returns the run of check n in progress, or starts one at
// now. s.mu is held.
func (s *Server) startLocked(n string, c Check, now time.Time) *checkRun {
	if ru := s.running[n]; ru != nil {
		return ru
	}
	ru := &checkRun{since: now, done: make(chan struct{})}
	s.running[n] = ru
	go func() {
		// Its own timeout, not the probe's: later probes share the run.
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		ru.err = c(ctx)
		s.mu.Lock()
		delete(s.running, n)
		s.mu.Unlock()
		close(ru.done)
	}()
	return ru
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
