package smpp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
)

// Session kinds, also metric labels.
const (
	kindTransmitter = "transmitter"
	kindReceiver    = "receiver"
)

// session is one bound SMPP connection. It owns two goroutines, the reader
// and the enquire_link ticker, both ended by close.
type session struct {
	kind        string
	conn        net.Conn
	r           *bufio.Reader
	log         *slog.Logger
	respTimeout time.Duration
	// onDeliver handles a deliver_sm on the reader goroutine, before it is
	// answered, and returns the answer's command_status; err is set if the
	// PDU could not be decoded.
	onDeliver func(d deliverSM, err error) uint32

	wmu sync.Mutex // serialises writes
	seq atomic.Uint32

	mu      sync.Mutex
	pending map[uint32]*call
	err     error // why the session ended; set once

	done chan struct{} // closed when the session has ended
	wg   sync.WaitGroup
}

// call is a request waiting for its response. Exactly one of the response,
// the timeout or the end of the session completes it, and runs finish.
type call struct {
	resp   pdu.ID
	ch     chan result // buffered: completing never blocks
	timer  *time.Timer
	finish func(result)
}

type result struct {
	status uint32
	body   []byte // the response's body
	err    error  // ErrTimeout or ErrDisconnected
}

// dialSession connects and binds. A refused bind is a *StatusError.
func dialSession(ctx context.Context, cfg Config, kind string, log *slog.Logger, onDeliver func(deliverSM, error) uint32) (*session, error) {
	d := net.Dialer{Timeout: cfg.RespTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smpp: dial %s: %w", kind, err)
	}
	if cfg.TLS != nil {
		if conn, err = handshake(ctx, conn, cfg); err != nil {
			return nil, fmt.Errorf("smpp: %s: %w", kind, err)
		}
	}
	s := &session{
		kind:        kind,
		conn:        conn,
		r:           bufio.NewReaderSize(conn, 64<<10),
		log:         log.With("session", kind),
		respTimeout: cfg.RespTimeout,
		onDeliver:   onDeliver,
		pending:     make(map[uint32]*call),
		done:        make(chan struct{}),
	}
	if err := s.bind(cfg); err != nil {
		conn.Close()
		return nil, err
	}
	s.wg.Add(2)
	go s.read()
	go s.enquireLinks(cfg.EnquireLink)
	return s, nil
}

// handshake secures conn with TLS within cfg.RespTimeout; it closes conn
// when it fails.
func handshake(ctx context.Context, conn net.Conn, cfg Config) (net.Conn, error) {
	tc := cfg.TLS.Clone()
	if tc.ServerName == "" {
		host, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			conn.Close()
			return nil, err
		}
		tc.ServerName = host
	}
	t := tls.Client(conn, tc)
	hctx, cancel := context.WithTimeout(ctx, cfg.RespTimeout)
	defer cancel()
	if err := t.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return t, nil
}

// bind sends the bind and reads its answer before the reader starts.
func (s *session) bind(cfg Config) error {
	command := "bind_" + s.kind
	frame, err := serialize(newBind(s.kind, cfg.SystemID, cfg.Password, cfg.SystemType), s.nextSeq())
	if err != nil {
		return err
	}
	s.conn.SetDeadline(time.Now().Add(cfg.RespTimeout))
	defer s.conn.SetDeadline(time.Time{})
	if _, err := s.conn.Write(frame); err != nil {
		return fmt.Errorf("smpp: %s: %w", command, err)
	}
	for {
		h, _, err := readFrame(s.r)
		if err != nil {
			return fmt.Errorf("smpp: %s: %w", command, err)
		}
		switch {
		case h.ID == pdu.EnquireLinkID: // some SMSCs probe at once
			s.write(encodeResponse(pdu.EnquireLinkRespID, statusOK, h.Seq))
			continue
		case uint32(h.ID)&respBit == 0 || h.Seq != 1:
			return fmt.Errorf("smpp: %s: unexpected %s", command, h.ID)
		case h.Status != statusOK:
			return &StatusError{Command: command, Status: h.Status}
		}
		return nil
	}
}

// nextSeq numbers requests 1 to 0x7FFFFFFF, then wraps.
func (s *session) nextSeq() uint32 {
	for {
		n := s.seq.Add(1)
		if n <= 0x7FFFFFFF {
			return n
		}
		s.seq.CompareAndSwap(n, 0)
	}
}

func (s *session) write(frame []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.conn.SetWriteDeadline(time.Now().Add(s.respTimeout))
	_, err := s.conn.Write(frame)
	return err
}

// request sends p and waits for its response, the timeout, or ctx. finish,
// if not nil, runs once when the request completes, even after request has
// returned because ctx ended: a request stays outstanding until the SMSC
// answers or the timeout passes.
func (s *session) request(ctx context.Context, p pdu.Body, resp pdu.ID, finish func(result)) (result, error) {
	seq := s.nextSeq()
	frame, err := serialize(p, seq)
	if err != nil {
		r := result{err: err}
		if finish != nil {
			finish(r)
		}
		return r, err
	}
	c := &call{resp: resp, ch: make(chan result, 1), finish: finish}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		r := result{err: fmt.Errorf("%w: %v", ErrDisconnected, s.err)}
		if finish != nil {
			finish(r)
		}
		return r, r.err
	}
	s.pending[seq] = c
	c.timer = time.AfterFunc(s.respTimeout, func() { s.complete(seq, 0, result{err: ErrTimeout}) })
	s.mu.Unlock()
	if err := s.write(frame); err != nil {
		s.close(fmt.Errorf("write: %w", err))
	}
	select {
	case r := <-c.ch:
		return r, r.err
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
}

// complete ends the call seq with r. A response (id != 0) must carry the
// command id the request expects, or generic_nack; anything else is not its
// answer.
func (s *session) complete(seq uint32, id pdu.ID, r result) {
	s.mu.Lock()
	c := s.pending[seq]
	if c == nil || (id != 0 && id != c.resp && id != pdu.GenericNACKID) {
		s.mu.Unlock()
		if id != 0 { // typically an answer after its timeout
			s.log.Debug("smpp response without a request", "command", id.String(), "seq", seq)
		}
		return
	}
	delete(s.pending, seq)
	s.mu.Unlock()
	c.timer.Stop()
	if c.finish != nil {
		c.finish(r)
	}
	c.ch <- r
}

// close ends the session once: the connection is closed and every pending
// request fails with ErrDisconnected.
func (s *session) close(why error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = why
	pending := s.pending
	s.pending = map[uint32]*call{}
	s.mu.Unlock()
	close(s.done)
	s.conn.Close()
	r := result{err: fmt.Errorf("%w: %v", ErrDisconnected, why)}
	for _, c := range pending {
		c.timer.Stop()
		if c.finish != nil {
			c.finish(r)
		}
		c.ch <- r
	}
}

// cause is why the session ended, nil while it runs.
func (s *session) cause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// unbind ends the session politely: unbind, wait for unbind_resp (at most
// RespTimeout), close; then it waits for the session's goroutines.
func (s *session) unbind() {
	ctx, cancel := context.WithTimeout(context.Background(), s.respTimeout)
	defer cancel()
	s.request(ctx, pdu.NewUnbind(), pdu.UnbindRespID, nil)
	s.close(errors.New("unbound"))
	s.wg.Wait()
}

func (s *session) read() {
	defer s.wg.Done()
	for {
		h, frame, err := readFrame(s.r)
		if err != nil {
			s.close(fmt.Errorf("read: %w", err))
			return
		}
		if uint32(h.ID)&respBit != 0 {
			s.complete(h.Seq, h.ID, result{status: h.Status, body: frame[headerLen:]})
			continue
		}
		switch h.ID {
		case pdu.EnquireLinkID:
			err = s.write(encodeResponse(pdu.EnquireLinkRespID, statusOK, h.Seq))
		case pdu.UnbindID:
			s.write(encodeResponse(pdu.UnbindRespID, statusOK, h.Seq))
			s.close(errors.New("unbound by the SMSC"))
			return
		case pdu.DeliverSMID:
			d, derr := decodeDeliverSM(frame)
			status := statusOK
			if s.onDeliver != nil {
				status = s.onDeliver(d, derr)
			}
			err = s.write(encodeResponse(pdu.DeliverSMRespID, status, h.Seq))
		default: // data_sm, alert_notification, outbind...: not supported
			err = s.write(encodeResponse(pdu.GenericNACKID, statusInvCmdID, h.Seq))
		}
		if err != nil {
			s.close(fmt.Errorf("write: %w", err))
			return
		}
	}
}

// enquireLinks probes the link every interval; an unanswered enquire_link
// ends the session, so a dead peer is noticed even when idle.
func (s *session) enquireLinks(interval time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			if _, err := s.request(context.Background(), pdu.NewEnquireLink(), pdu.EnquireLinkRespID, nil); err != nil {
				s.close(fmt.Errorf("enquire_link: %w", err))
				return
			}
		}
	}
}
