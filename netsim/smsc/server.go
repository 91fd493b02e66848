package smsc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a running SMSC simulator. Its methods are safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger
	m   *metrics

	startOnce sync.Once
	ln        net.Listener
	cancel    context.CancelFunc
	wg        sync.WaitGroup // accept loop, dispatcher, sessions

	nextID      atomic.Uint64
	nextConn    atomic.Uint64
	outstanding atomic.Int64

	mu       sync.Mutex // guards everything below
	sessions map[*session]struct{}
	rr       int // round-robin position among receivers
	records  []record
	recNext  int // ring position when records is full
	stats    Stats
	queue    []*receipt // due order, but for requeued receipts put first
	wake     chan struct{}
}

// Stats are counters for tests and the demo.
type Stats struct {
	Binds          int // successful binds
	Unbinds        int // unbind received from a bound session
	Submits        int // submit_sm received
	Accepted       int // answered with ESME_ROK
	MaxOutstanding int // most submit_sm received and not yet answered at one time, over all sessions
	ReceiptsSent   int // deliver_sm receipts written, re-sends included
	ReceiptsAcked  int // deliver_sm_resp with ESME_ROK
}

// New validates cfg and returns a Server that is not yet listening.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("smsc: register metrics: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Log,
		m:        m,
		sessions: make(map[*session]struct{}),
		wake:     make(chan struct{}, 1),
	}
	// Ids start from the clock so that a restarted simulator does not
	// reissue the ids of its previous run; 10 decimal digits for the next
	// ~250 years of microseconds modulo 8e9.
	s.nextID.Store(1_000_000_000 + uint64(time.Now().UnixMicro())%8_000_000_000)
	return s, nil
}

// Start listens on Config.Addr and serves in the background until ctx ends
// or Close is called. It returns the listen error, if any; it may be called
// once.
func (s *Server) Start(ctx context.Context) error {
	err := errors.New("smsc: already started")
	s.startOnce.Do(func() { err = s.start(ctx) })
	return err
}

func (s *Server) start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smsc: listen: %w", err)
	}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.ln, s.cancel = ln, cancel
	s.mu.Unlock()
	s.log.Info("smsc listening", "addr", ln.Addr().String())
	s.wg.Go(func() { s.accept(ctx, ln) })
	s.wg.Go(func() { s.dispatch(ctx) })
	s.wg.Go(func() {
		<-ctx.Done()
		ln.Close()
		s.mu.Lock()
		for ss := range s.sessions {
			ss.conn.Close()
		}
		s.mu.Unlock()
	})
	return nil
}

// Addr is the address the server listens on, or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops the server abruptly, as a crash would: the listener and every
// connection are closed without unbind, and receipts not yet acknowledged
// are dropped. It waits for every goroutine of the server to end.
func (s *Server) Close() error {
	s.startOnce.Do(func() {}) // a later Start fails
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	return nil
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Server) accept(ctx context.Context, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Error("smsc accept", "err", err)
			return
		}
		ss := newSession(s, c)
		s.mu.Lock()
		if ctx.Err() != nil { // closing: the closer may have run already
			s.mu.Unlock()
			c.Close()
			return
		}
		s.sessions[ss] = struct{}{}
		s.mu.Unlock()
		s.m.sessions.Inc()
		s.wg.Go(ss.run)
	}
}

// outstandingAdd counts a submit_sm received (+1) or answered (-1) and keeps
// the maximum.
func (s *Server) outstandingAdd(d int64) {
	n := s.outstanding.Add(d)
	s.m.outstanding.Set(float64(n))
	if d > 0 {
		s.mu.Lock()
		if int(n) > s.stats.MaxOutstanding {
			s.stats.MaxOutstanding = int(n)
		}
		s.mu.Unlock()
	}
}

func (s *Server) newMessageID() uint64 { return s.nextID.Add(1) }

func (s *Server) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
