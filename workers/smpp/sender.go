package smpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"

	"github.com/simcore/simcore/provisioning"
)

var _ provisioning.SMSSender = (*Sender)(nil)

// Sender submits text messages over a transmitter session and receives
// delivery receipts over a receiver session, keeping both bound.
//
// Each receipt reaches Config.OnReceipt with DeliveryReceipt.MessageID as
// SendSMS returned it in SMSResult.MessageIDs when the receipt's id matches
// one this Sender submitted (in the TLV, or in the text as written, in
// another case, with leading zeros, or in the other base: decimal for hex or
// hex for decimal). A receipt for an id it does not know (submitted before a
// restart, or among the oldest beyond Config.TrackIDs) carries the id as the
// SMSC wrote it, which NormalizeMessageID makes comparable.
type Sender struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	window  chan struct{} // a token per outstanding submit_sm
	limiter *limiter      // nil when unlimited
	ids     *tracker
	flight  *inflight
	ref     atomic.Uint32 // concatenation reference

	tx, rx atomic.Pointer[session]
	state  bindState

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	closed  chan struct{}
	wg      sync.WaitGroup // the two keepers
}

// New validates cfg and returns a Sender; Start binds it.
func New(cfg Config) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("smpp: register metrics: %w", err)
	}
	s := &Sender{
		cfg:    cfg,
		log:    cfg.Log,
		m:      m,
		window: make(chan struct{}, cfg.Window),
		ids:    newTracker(cfg.TrackIDs),
		flight: newInflight(),
		closed: make(chan struct{}),
	}
	m.windowSize.Set(float64(cfg.Window))
	if !cfg.unlimited() {
		s.limiter = newLimiter(cfg.Rate)
		m.rateLimit.Set(cfg.Rate)
	}
	s.ref.Store(rand.Uint32())
	return s, nil
}

// Start keeps a transmitter and a receiver bound until ctx ends or Close
// is called: it binds them in the background, at once, and again after any
// loss or failed attempt, with backoff from ReconnectMin to ReconnectMax. It
// does not wait for the network (see WaitBound) and fails only if the
// Sender was started or closed before. Until the transmitter is bound,
// SendSMS fails with ErrNotBound.
func (s *Sender) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	if s.started {
		return errors.New("smpp: already started")
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(2)
	go s.keep(ctx, kindTransmitter, &s.tx)
	go s.keep(ctx, kindReceiver, &s.rx)
	return nil
}

// WaitBound waits until both sessions are bound. If ctx ends first it
// returns ctx's error joined with the last bind error of each session not
// bound: a *StatusError (errors.As) when the SMSC refused the bind, such as
// ESME_RINVPASWD for a wrong password.
func (s *Sender) WaitBound(ctx context.Context) error {
	for {
		changed := s.state.wait()
		if s.tx.Load() != nil && s.rx.Load() != nil {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			errs := []error{ctx.Err()}
			for _, kind := range []string{kindTransmitter, kindReceiver} {
				if err := s.state.lastErr(kind); err != nil {
					errs = append(errs, err)
				}
			}
			return fmt.Errorf("smpp: not bound: %w", errors.Join(errs...))
		}
	}
}

// Close unbinds both sessions and stops reconnecting. Submits waiting for
// an answer fail with ErrDisconnected, later ones with ErrClosed.
func (s *Sender) Close() error {
	s.mu.Lock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	return nil
}

func (s *Sender) dial(ctx context.Context, kind string) (*session, error) {
	// A transmitter should never get deliver_sm, but an SMSC that sends one
	// there must not lose the receipt. There it must not wait for submits
	// to be answered either: its own reader reads the answers.
	wait := kind == kindReceiver
	ss, err := dialSession(ctx, s.cfg, kind, s.log, func(d deliverSM, err error) uint32 { return s.onDeliver(d, err, wait) })
	outcome := "ok"
	var se *StatusError
	switch {
	case errors.As(err, &se):
		outcome = "refused"
	case err != nil:
		outcome = "error"
	}
	s.m.binds.WithLabelValues(kind, outcome).Inc()
	s.state.setErr(kind, err)
	if err != nil {
		return nil, err
	}
	s.log.Info("smpp bound", "type", kind, "addr", s.cfg.Addr)
	return ss, nil
}

// keep binds a session of kind, publishes it in slot while it lives, and
// binds again when it is lost, until ctx ends; then it unbinds.
func (s *Sender) keep(ctx context.Context, kind string, slot *atomic.Pointer[session]) {
	defer s.wg.Done()
	up := s.m.sessionUp.WithLabelValues(kind)
	for first := true; ; first = false {
		ss, err := s.bindWithBackoff(ctx, kind, first)
		if err != nil {
			return // ctx ended
		}
		if !first {
			s.m.reconnects.WithLabelValues(kind).Inc()
		}
		slot.Store(ss)
		up.Set(1)
		s.state.notify()
		select {
		case <-ctx.Done():
		case <-ss.done:
		}
		slot.Store(nil)
		up.Set(0)
		s.state.notify()
		if ctx.Err() != nil {
			ss.unbind()
			return
		}
		ss.wg.Wait()
		s.log.Warn("smpp session lost", "type", kind, "err", ss.cause())
	}
}

// bindWithBackoff binds until it succeeds or ctx ends: at once if now is
// set, then after waits from ReconnectMin doubling to ReconnectMax, each
// jittered down by up to half so that many clients do not return in step.
func (s *Sender) bindWithBackoff(ctx context.Context, kind string, now bool) (*session, error) {
	backoff := s.cfg.ReconnectMin
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		if !now {
			t.Reset(backoff/2 + rand.N(backoff/2+1))
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-t.C:
			}
			backoff = min(2*backoff, s.cfg.ReconnectMax)
		}
		now = false
		ss, err := s.dial(ctx, kind)
		if err == nil {
			return ss, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.log.Warn("smpp bind failed", "type", kind, "err", err, "retry_within", backoff)
	}
}

// SendSMS encodes m.Text (GSM 7-bit if every character fits, else UCS-2),
// splits it into concatenated parts if it is long, and submits the parts in
// order, each waiting for room in the window and its turn under the rate.
// It returns the SMSC's message id of every part. Each part asks for a
// delivery receipt (registered_delivery 1) unless m.NoReceipt.
//
// Errors: a bad address or a text of more than 255 parts, and a permanent
// status from the SMSC (a *StatusError), wrap provisioning.ErrPermanent.
// Anything else is transient: ErrNotBound, ErrTimeout, ErrDisconnected,
// ErrClosed, a transient *StatusError (ESME_RTHROTTLED, ESME_RSYSERR...), or
// ctx's error. If a later part fails, the result holds the ids of the parts
// already accepted; sending again sends every part again.
func (s *Sender) SendSMS(ctx context.Context, m provisioning.SMS) (provisioning.SMSResult, error) {
	if err := ctx.Err(); err != nil {
		return provisioning.SMSResult{}, err
	}
	dst, err := destinationAddress(m.To)
	if err != nil {
		return provisioning.SMSResult{}, err
	}
	from := m.From
	if from == "" {
		from = s.cfg.SourceAddr
	}
	src, err := sourceAddress(from)
	if err != nil {
		return provisioning.SMSResult{}, err
	}
	if m.Text == "" {
		return provisioning.SMSResult{}, permanentf("empty text")
	}
	text, err := encodeText(m.Text)
	if err != nil {
		return provisioning.SMSResult{}, permanentf("%v", err)
	}
	n := len(text.payloads)
	res := provisioning.SMSResult{Parts: n, MessageIDs: make([]string, 0, n)}
	ref := byte(s.ref.Add(1))
	registered := byte(0x01) // a receipt on final delivery or failure
	if m.NoReceipt {
		registered = 0
	}
	for i, payload := range text.payloads {
		sm := submitSM{
			source: src, dest: dst,
			registeredDelivery: registered,
			dataCoding:         text.coding,
			shortMessage:       payload,
		}
		if n > 1 {
			sm.esmClass = 0x40 // UDHI
			sm.shortMessage = append(concatUDH(ref, i+1, n), payload...)
		}
		id, err := s.submit(ctx, sm)
		if err != nil {
			if n > 1 {
				err = fmt.Errorf("part %d of %d: %w", i+1, n, err)
			}
			return res, err
		}
		res.MessageIDs = append(res.MessageIDs, id)
	}
	return res, nil
}

// submit sends one submit_sm and returns its message id.
func (s *Sender) submit(ctx context.Context, sm submitSM) (string, error) {
	select {
	case s.window <- struct{}{}:
	case <-ctx.Done():
		s.m.submits.WithLabelValues(outcomeCanceled).Inc()
		return "", ctx.Err()
	case <-s.closed:
		return "", ErrClosed
	}
	s.m.windowInUse.Inc()
	release := func() {
		<-s.window
		s.m.windowInUse.Dec()
	}
	if s.limiter != nil {
		if err := s.limiter.wait(ctx); err != nil {
			release()
			s.m.submits.WithLabelValues(outcomeCanceled).Inc()
			return "", err
		}
	}
	select {
	case <-s.closed:
		release()
		return "", ErrClosed
	default:
	}
	tx := s.tx.Load()
	if tx == nil {
		release()
		s.m.submits.WithLabelValues(outcomeDisconnected).Inc()
		return "", ErrNotBound
	}
	start := time.Now()
	n := s.flight.add()
	// finish runs exactly once, when the SMSC answers, the timeout passes
	// or the session ends, even if ctx ended first: the window counts what
	// the SMSC has outstanding, not what callers still wait for. It runs on
	// the transmitter's reader, so the id is known before the next PDU is
	// read.
	finish := func(r result) {
		if r.err == nil && r.status == statusOK && sm.registeredDelivery != 0 {
			// Only an id that will get a receipt is worth remembering.
			s.ids.add(cstring(r.body))
		}
		s.flight.done(n)
		release()
		s.m.latency.Observe(time.Since(start).Seconds())
		s.m.submits.WithLabelValues(submitOutcome(r)).Inc()
	}
	r, err := tx.request(ctx, newSubmitSM(sm), pdu.SubmitSMRespID, finish)
	if err != nil {
		return "", err
	}
	if r.status != statusOK {
		return "", &StatusError{Command: "submit_sm", Status: r.status}
	}
	id := cstring(r.body)
	if id == "" {
		s.log.Warn("smpp submit_sm_resp without a message id")
	}
	return id, nil
}

func submitOutcome(r result) string {
	switch {
	case errors.Is(r.err, ErrTimeout):
		return outcomeTimeout
	case r.err != nil:
		return outcomeDisconnected
	case r.status == statusOK:
		return outcomeOK
	case Permanent(r.status):
		return outcomeRejected
	case r.status == statusThrottled || r.status == statusMsgQFul:
		return outcomeThrottled
	}
	return outcomeError
}

// onDeliver handles a deliver_sm on a session's reader goroutine and
// returns the command_status to answer it with; wait lets it wait for
// outstanding submits to correlate a receipt. Anything it cannot use
// (undecodable, mobile-originated, unreadable) is acknowledged: a retry
// would not read better, and an SMSC redelivers an unacknowledged PDU.
func (s *Sender) onDeliver(d deliverSM, err error, wait bool) uint32 {
	if err != nil {
		s.m.delivers.WithLabelValues("malformed").Inc()
		s.log.Warn("smpp undecodable deliver_sm", "err", err)
		return statusOK
	}
	// esm_class message type (bits 2-5): 0x04 SMSC delivery receipt, 0x20
	// intermediate delivery notification.
	if t := d.esmClass & 0x3C; t != 0x04 && t != 0x20 {
		s.m.delivers.WithLabelValues("mo").Inc()
		s.log.Debug("smpp mobile-originated message ignored")
		return statusOK
	}
	rec, tlvID, textID, err := receiptOf(d)
	if err != nil {
		s.m.delivers.WithLabelValues("malformed").Inc()
		s.log.Warn("smpp unreadable delivery receipt", "err", err)
		return statusOK
	}
	s.m.delivers.WithLabelValues("receipt").Inc()
	if d.truncated {
		s.log.Debug("smpp receipt with a length past its pdu", "message_id", rec.MessageID)
	}
	final := finalState(rec.State)
	id, ok := s.resolve(tlvID, textID, final, wait)
	rec.MessageID = id
	if !ok {
		s.m.uncorrelated.Inc()
	}
	s.m.receipts.WithLabelValues(stateLabel(rec.State)).Inc()
	if s.cfg.OnReceipt == nil {
		return statusOK
	}
	err = s.cfg.OnReceipt(rec)
	if err == nil || (!ok && errors.Is(err, provisioning.ErrMessageNotFound)) {
		// Recorded, or about a message this Sender never submitted: no
		// later try could match it.
		return statusOK
	}
	// Not recorded yet (the worker that submitted it has not stored its
	// id) or not recordable now: the SMSC delivers it again. resolve
	// forgot a final receipt's id; the next delivery must match it too.
	if ok && final {
		s.ids.add(id)
	}
	s.m.deferred.Inc()
	s.log.Debug("smpp delivery receipt deferred", "message_id", id, "err", err)
	return statusRxTApp
}

// resolve correlates a receipt's ids. An unknown id may belong to a submit
// whose answer is not read yet: it waits for the submits outstanding when
// the receipt arrived, then tries again; at most half RespTimeout, so that
// the receiver's reader is back in time for an enquire_link_resp.
func (s *Sender) resolve(tlvID, textID string, final, wait bool) (string, bool) {
	id, ok := s.ids.resolve(tlvID, textID, final)
	if ok || !wait {
		return id, ok
	}
	mark := s.flight.mark()
	timer := time.NewTimer(s.cfg.RespTimeout / 2)
	defer timer.Stop()
	for {
		wake, pending := s.flight.before(mark)
		if !pending {
			return s.ids.resolve(tlvID, textID, final)
		}
		select {
		case <-wake:
		case <-timer.C:
			return s.ids.resolve(tlvID, textID, final)
		}
		if id, ok := s.ids.resolve(tlvID, textID, final); ok {
			return id, true
		}
	}
}
