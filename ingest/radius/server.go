package radius

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"layeh.com/radius"
	"layeh.com/radius/rfc2866"

	"github.com/simcore/simcore/metering"
)

// Sink receives the records of one Accounting-Request. Accept must return
// nil only once the records are durably accepted: the NAS is answered
// after that and not otherwise, so an error makes the NAS retransmit.
type Sink interface {
	Accept(ctx context.Context, recs []metering.Record) error
}

// Config configures a Server. Exactly one of Secret and Clients is set.
type Config struct {
	Addr string // UDP listen address, e.g. "127.0.0.1:1813" or ":0"; empty means 127.0.0.1:1813
	// Secret is one shared secret for every NAS, whatever its address.
	Secret []byte
	// Clients are the NASes, each with its secret: packets from other
	// addresses are dropped unanswered (outcome unknown_client).
	Clients  *Clients
	Log      *slog.Logger
	Registry prometheus.Registerer // nil: metrics are not registered

	// MaxSessions bounds the sessions whose high-water marks are kept
	// (about 250 bytes each), the least recently updated evicted first;
	// 0 means DefaultMaxSessions. It must exceed the sessions updated
	// within an interim interval: an active session evicted counts its
	// usage again at its next update (simcore_radius_sessions_evicted_total).
	MaxSessions int
}

// DefaultMaxSessions is the session LRU size used when Config.MaxSessions is 0.
const DefaultMaxSessions = 1 << 20

// maxInFlight bounds the requests handled at once; beyond it the read loop
// waits and the kernel socket buffer absorbs (or drops) the excess.
const maxInFlight = 4096

// socketBuffer is the receive buffer asked for the UDP socket. Answers wait
// for a ClickHouse insert (tens of milliseconds), so NASes with many
// requests outstanding send bursts; Linux's default (208 KiB, about 200
// requests with their overhead) dropped them, and each drop costs the NAS a
// retransmission timeout. The kernel caps it at net.core.rmem_max.
const socketBuffer = 4 << 20

// ErrInvalidConfig is wrapped by the errors New returns for a bad Config.
var ErrInvalidConfig = errors.New("invalid radius config")

// Validate returns an error wrapping ErrInvalidConfig if c cannot be used.
func (c *Config) Validate() error {
	switch {
	case c.Clients != nil && len(c.Secret) > 0:
		return fmt.Errorf("%w: both Secret and Clients (the clients hold each NAS's secret)", ErrInvalidConfig)
	case c.Clients != nil && c.Clients.Len() == 0:
		return fmt.Errorf("%w: no clients", ErrInvalidConfig)
	case c.Clients == nil && len(c.Secret) == 0:
		return fmt.Errorf("%w: empty secret", ErrInvalidConfig)
	}
	if c.MaxSessions < 0 {
		return fmt.Errorf("%w: negative MaxSessions", ErrInvalidConfig)
	}
	return nil
}

// Server is a RADIUS accounting receiver. It is safe for concurrent use.
type Server struct {
	addr    string
	secret  []byte                  // nil with clients
	clients atomic.Pointer[Clients] // nil: one secret for any source
	log     *slog.Logger
	sink    Sink
	marks   *marks
	nasEnds nasEnds
	met     metrics
	sinkLog sinkLog

	mu     sync.Mutex
	conn   net.PacketConn
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Server that hands records to sink. It returns an error
// wrapping ErrInvalidConfig for a bad cfg or a nil sink, or the error of
// registering its metrics.
func New(cfg Config, sink Sink) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, fmt.Errorf("%w: nil sink", ErrInvalidConfig)
	}
	s := &Server{
		addr:   cfg.Addr,
		secret: bytes.Clone(cfg.Secret),
		log:    cfg.Log,
		sink:   sink,
		marks:  newMarks(orDefault(cfg.MaxSessions, DefaultMaxSessions)),
	}
	s.met = newMetrics(s.marks)
	s.clients.Store(cfg.Clients)
	if s.addr == "" {
		s.addr = "127.0.0.1:1813"
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry != nil {
		if err := s.met.register(cfg.Registry); err != nil {
			return nil, fmt.Errorf("register radius metrics: %w", err)
		}
	}
	return s, nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Start binds the UDP socket and serves in the background until ctx ends
// or Close is called. It returns the error of binding, or an error if the
// server was already started.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		return errors.New("radius server already started")
	}
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, "udp", s.addr)
	if err != nil {
		return fmt.Errorf("listen radius accounting: %w", err)
	}
	if u, ok := conn.(*net.UDPConn); ok {
		if err := u.SetReadBuffer(socketBuffer); err != nil {
			s.log.Warn("radius socket receive buffer", "bytes", socketBuffer, "err", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	s.conn, s.cancel = conn, cancel
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		<-ctx.Done()
		conn.Close() // unblocks ReadFrom
	}()
	go func() {
		defer s.wg.Done()
		s.serve(ctx, conn)
	}()
	s.log.Info("radius accounting listening", "addr", conn.LocalAddr().String())
	return nil
}

// Addr returns the address the server listens on, or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return ""
	}
	return s.conn.LocalAddr().String()
}

// Close stops reading, cancels the requests in flight (they are not
// answered, so the NAS retransmits them elsewhere or later) and waits for
// them to finish. It returns nil; calling it again is a no-op.
func (s *Server) Close() error {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	return nil
}

// batchSize is how many datagrams one system call reads or writes at most.
// Under load each recvmmsg/sendmmsg carries many, so the per-call cost
// (high on virtual machines with page-table isolation) is shared; when
// idle each carries one, without waiting for company.
const batchSize = 64

// batchConn reads and writes several datagrams per system call (recvmmsg
// and sendmmsg on Linux). ipv4.PacketConn and ipv6.PacketConn have it.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// newBatchConn wraps conn for the address family it is bound to.
func newBatchConn(conn net.PacketConn) batchConn {
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		return ipv6.NewPacketConn(conn)
	}
	return ipv4.NewPacketConn(conn)
}

// response is an encoded Accounting-Response on its way to its NAS.
type response struct {
	b    []byte
	to   net.Addr
	recv time.Time
}

// serve reads packets in batches and handles each on its own goroutine, at
// most maxInFlight at once, until conn is closed. Answers leave through one
// writer goroutine that sends whatever has queued up in one batch: a group
// commit of the write-ahead log releases many at once.
func (s *Server) serve(ctx context.Context, conn net.PacketConn) {
	bc := newBatchConn(conn)
	out := make(chan response, maxInFlight)
	written := make(chan struct{})
	go func() {
		defer close(written)
		s.writeResponses(bc, out)
	}()
	sem := make(chan struct{}, maxInFlight)
	var handlers sync.WaitGroup
	defer func() {
		handlers.Wait()
		close(out)
		<-written
	}()
	msgs := make([]ipv4.Message, batchSize)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, radius.MaxPacketLength)}
	}
	for {
		n, err := bc.ReadBatch(msgs, 0)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("radius read", "err", err)
			continue
		}
		recv := time.Now()
		for i := range n {
			m := &msgs[i]
			secret, ok := s.secretFor(ctx, m.Addr)
			if !ok {
				continue
			}
			// The read buffers are reused: each handler gets its own copy,
			// sized to the packet.
			raw := append([]byte(nil), m.Buffers[0][:m.N]...)
			from := m.Addr
			sem <- struct{}{}
			handlers.Go(func() {
				defer func() { <-sem }()
				if resp := s.handlePacket(ctx, raw, secret, recv); resp != nil {
					out <- response{b: resp, to: from, recv: recv}
				}
			})
		}
	}
}

// SetClients replaces the NASes a Server with Clients accepts, for
// example when the clients file was edited; requests already read keep the
// secret they were checked with. It returns an error wrapping
// ErrInvalidConfig for a Server with one shared secret, or for no clients.
func (s *Server) SetClients(c *Clients) error {
	switch {
	case s.clients.Load() == nil:
		return fmt.Errorf("%w: the server has one shared secret, not clients", ErrInvalidConfig)
	case c == nil || c.Len() == 0:
		return fmt.Errorf("%w: no clients", ErrInvalidConfig)
	}
	s.clients.Store(c)
	return nil
}

// secretFor returns the secret of the NAS at from, or false when from is
// no client's: the packet is then dropped, before it costs a copy or a
// goroutine. That is counted, and logged at debug level only: anyone who
// can reach the port can send such packets at any rate.
func (s *Server) secretFor(ctx context.Context, from net.Addr) ([]byte, bool) {
	clients := s.clients.Load()
	if clients == nil {
		return s.secret, true
	}
	if c, ok := clients.Lookup(sourceIP(from)); ok {
		return c.Secret, true
	}
	s.met.count(typeUnknown, outcomeUnknownClient)
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("radius request from an unknown client dropped", "addr", from.String())
	}
	return nil, false
}

// sourceIP returns the IP address of a datagram's source without
// allocating (an IPv4 source read from an IPv6 socket stays IPv4-mapped;
// Clients.Lookup unmaps it), or the zero Addr.
func sourceIP(from net.Addr) netip.Addr {
	if u, ok := from.(*net.UDPAddr); ok {
		ip, _ := netip.AddrFromSlice(u.IP)
		return ip
	}
	return netip.Addr{}
}

// writeResponses sends the answers from out until it is closed: it waits
// for one, takes every other already queued (up to batchSize), and sends
// them together. An answer that cannot be sent is logged and dropped; its
// NAS retransmits the request, which is then a duplicate.
func (s *Server) writeResponses(bc batchConn, out <-chan response) {
	batch := make([]response, 0, batchSize)
	msgs := make([]ipv4.Message, batchSize)
	for r := range out {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < batchSize {
			select {
			case r, ok := <-out:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		for i, r := range batch {
			msgs[i] = ipv4.Message{Buffers: [][]byte{r.b}, Addr: r.to}
		}
		for sent := 0; sent < len(batch); {
			n, err := bc.WriteBatch(msgs[sent:len(batch)], 0)
			now := time.Now()
			for _, r := range batch[sent : sent+n] {
				s.met.latency.Observe(now.Sub(r.recv).Seconds())
			}
			sent += n
			if err != nil && sent < len(batch) {
				// The datagram at sent failed: skip it, send the rest.
				s.log.Warn("radius write response", "err", err, "nas", batch[sent].to.String())
				sent++
			}
		}
		clear(msgs[:len(batch)])
	}
}

// handlePacket handles one datagram received at recv from a NAS whose
// secret is secret and returns the encoded Accounting-Response, or nil
// when the NAS must not be answered.
func (s *Server) handlePacket(ctx context.Context, raw, secret []byte, recv time.Time) []byte {
	p, err := radius.Parse(raw, secret)
	if err != nil || len(raw) < 20 || int(raw[2])<<8|int(raw[3]) != len(raw) {
		// radius.Parse accepts trailing bytes past Length; RFC 2865 says to
		// ignore them, but the authenticator covers Length octets only, so
		// drop such packets rather than reason about them.
		s.met.count(typeUnknown, outcomeMalformed)
		return nil
	}
	if p.Code != radius.CodeAccountingRequest {
		s.met.count(typeNotAccounting, outcomeDropped)
		return nil
	}
	if !radius.IsAuthenticRequest(raw, secret) {
		s.met.count(typeUnknown, outcomeBadAuthenticator)
		return nil
	}
	ev, err := decodeEvent(p, recv)
	typ := typeLabel(ev.status)
	if err != nil {
		s.met.count(typ, outcomeMalformed)
		s.log.Debug("radius malformed accounting request", "err", err)
		return nil
	}
	switch ev.status {
	case rfc2866.AcctStatusType_Value_Start, rfc2866.AcctStatusType_Value_InterimUpdate,
		rfc2866.AcctStatusType_Value_Stop:
		outcome := s.account(ctx, &ev)
		s.met.count(typ, outcome)
		if outcome == outcomeSinkError {
			return nil
		}
	case rfc2866.AcctStatusType_Value_AccountingOn, rfc2866.AcctStatusType_Value_AccountingOff:
		// The NAS (re)started or is stopping: its sessions are over, and
		// it may reuse their ids (see mark.newSession). No usage.
		s.nasEnds.set(ev.nodeID, ev.at.Unix())
		s.met.count(typ, outcomeIgnored)
	default:
		// Other types carry no usage; answering stops the NAS from
		// retransmitting them.
		s.met.count(typ, outcomeIgnored)
	}
	resp, err := p.Response(radius.CodeAccountingResponse).Encode()
	if err != nil {
		s.log.Warn("radius encode response", "err", err)
		return nil
	}
	return resp
}

// account turns ev into a delta record, hands it to the Sink and moves the
// session's mark. It returns the outcome label.
func (s *Server) account(ctx context.Context, ev *event) string {
	mk := s.marks.get(ev.sessionID)
	mk.mu.Lock()
	defer mk.mu.Unlock()
	if cause, ok := mk.newSession(ev, s.nasEnds.get(ev.nodeID)); ok {
		mk.startOver(began(ev))
		s.met.reused.WithLabelValues(cause).Inc()
	}
	c := mk.of(began(ev))
	rec, ok := c.delta(ev)
	if !ok {
		return outcomeNoDelta
	}
	if err := s.sink.Accept(ctx, []metering.Record{rec}); err != nil {
		s.sinkLog.failure(s.log, err, ev.nodeID)
		return outcomeSinkError
	}
	if garbled(rec.BytesUp) || garbled(rec.BytesDown) {
		// Garbage Gigawords: the record is quarantined (bytes_too_large),
		// and the mark stays, or the session's later updates would all
		// measure below it and count nothing.
		s.sinkLog.success(s.log)
		return outcomeAccepted
	}
	mk.commit(c, ev)
	s.sinkLog.success(s.log)
	return outcomeAccepted
}

// maxNASEnds bounds the NASes whose last restart is remembered; an
// authenticated NAS may send any NAS-Identifier.
const maxNASEnds = 4096

// nasEnds remembers when each NAS (by node id) last sent Accounting-On or
// -Off (Unix seconds). In memory only: a restart of simcore forgets them.
type nasEnds struct {
	mu sync.Mutex
	at map[string]int64
}

func (n *nasEnds) set(node string, at int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.at == nil {
		n.at = make(map[string]int64)
	}
	if _, ok := n.at[node]; !ok && len(n.at) >= maxNASEnds {
		// Forget the NAS that restarted longest ago (rare: once per NAS
		// restart, over a few thousand entries).
		oldest, first := "", true
		for k, v := range n.at {
			if first || v < n.at[oldest] {
				oldest, first = k, false
			}
		}
		delete(n.at, oldest)
	}
	n.at[node] = at
}

func (n *nasEnds) get(node string) int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.at[node]
}

// sinkLogEvery is how often a sink that keeps failing is logged.
const sinkLogEvery = time.Minute

// sinkLog logs the sink's failures without a line per request: a full or
// failing disk under the write-ahead log fails every request, thousands a
// second. A failure is logged when it starts and then at most once per
// sinkLogEvery, with how many were left out; the first success after it
// is logged once. simcore_radius_requests_total counts each request.
type sinkLog struct {
	now     func() time.Time // time.Now when nil; tests set it
	failing atomic.Bool      // read by every success

	mu      sync.Mutex
	logged  time.Time // when a failure was last logged
	leftOut int       // failures since then that were not
	failed  int       // failures since the sink last accepted
}

func (l *sinkLog) failure(log *slog.Logger, err error, nodeID string) {
	now := time.Now
	if l.now != nil {
		now = l.now
	}
	t := now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed++
	if l.failing.Load() && t.Sub(l.logged) < sinkLogEvery {
		l.leftOut++
		return
	}
	l.failing.Store(true)
	log.Error("radius sink accept failed: requests are not answered, NASes retransmit", "err", err, "node_id", nodeID,
		"left_out", l.leftOut, "next_log_in", sinkLogEvery)
	l.logged, l.leftOut = t, 0
}

func (l *sinkLog) success(log *slog.Logger) {
	if !l.failing.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failing.Load() {
		log.Info("radius sink accepting again", "failed_requests", l.failed)
		l.failing.Store(false)
		l.failed, l.leftOut = 0, 0
	}
}
