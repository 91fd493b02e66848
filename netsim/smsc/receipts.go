package smsc

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/fiorix/go-smpp/smpp/pdu/pdutext"
)

// receipt is a delivery receipt waiting for, or in flight to, a receiver.
type receipt struct {
	systemID      string
	id            uint64
	source, dest  string
	submitted     time.Time
	due           time.Time
	undeliverable bool
	text          string // first 20 characters of the message, receipt-safe
}

func formatID(n uint64, format string) string {
	if format == IDHex {
		return strings.ToUpper(strconv.FormatUint(n, 16))
	}
	return fmt.Sprintf("%010d", n)
}

// encodeReceipt encodes r as a deliver_sm (esm_class 0x04, SMSC delivery
// receipt) in the text format of SMPP 3.4 Appendix B.
func (s *Server) encodeReceipt(seq uint32, r *receipt, done time.Time) ([]byte, error) {
	stat, state, dlvrd, errCode := "DELIVRD", stateDelivered, "001", "000"
	if r.undeliverable {
		stat, state, dlvrd, errCode = "UNDELIV", stateUndeliverable, "000", "001"
	}
	text := fmt.Sprintf("id:%s sub:001 dlvrd:%s submit date:%s done date:%s stat:%s err:%s text:%s",
		formatID(r.id, s.cfg.ReceiptIDFormat), dlvrd,
		r.submitted.UTC().Format("0601021504"), done.UTC().Format("0601021504"),
		stat, errCode, r.text)
	d := deliverSM{
		sourceTON: 1, sourceNPI: 1, source: r.dest,
		destTON: 1, destNPI: 1, dest: r.source,
		esmClass:     0x04,
		shortMessage: []byte(text),
	}
	if !s.cfg.OmitReceiptTLVs {
		d.tlvs = []tlv{
			{tagReceiptedID, append([]byte(formatID(r.id, s.cfg.IDFormat)), 0)},
			{tagMessageState, []byte{state}},
		}
	}
	return encodeDeliverSM(seq, d)
}

// receiptText is the first 20 characters of a message for its receipt,
// with anything but ASCII letters, digits, space and punctuation common to
// ASCII and the GSM alphabet replaced by '?', so that it reads the same in
// either.
func receiptText(coding byte, payload []byte) string {
	const n = 20
	if len(payload) > 4*n {
		payload = payload[:4*n]
	}
	text := decodeText(coding, payload)
	var b strings.Builder
	for i, r := range []rune(text) {
		if i == n {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			strings.ContainsRune(" .,!?-():;/\"'&%#+*=<>", r):
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// decodeText decodes a short message by its data_coding: GSM 03.38
// unpacked (0), IA5/ASCII (1), Latin-1 (3), UCS-2/UTF-16BE (8); anything
// else is returned as Latin-1. A GSM text cut inside an escape loses it.
func decodeText(coding byte, b []byte) string {
	switch coding {
	case 0x00:
		// go-smpp's decoder fails on a trailing escape (and then returns
		// its input unchanged).
		if len(b) > 0 && b[len(b)-1] == 0x1B {
			b = b[:len(b)-1]
		}
		return string(pdutext.GSM7(b).Decode())
	case 0x01:
		if utf8.Valid(b) {
			return string(b)
		}
	case 0x08:
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		return string(utf16.Decode(u))
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func (s *Server) schedule(r *receipt) {
	s.mu.Lock()
	s.queue = append(s.queue, r)
	s.mu.Unlock()
	s.signal()
}

// requeueLocked puts receipts back first in line, due at once or after
// delay.
func (s *Server) requeueLocked(delay time.Duration, rs ...*receipt) {
	due := time.Now().Add(delay)
	for _, r := range rs {
		r.due = due
	}
	s.queue = append(rs, s.queue...)
	s.m.receipts.WithLabelValues(receiptRequeued).Add(float64(len(rs)))
}

// pickReceiverLocked returns a bound receiver or transceiver of systemID with
// room in its deliver window, round-robin, or nil.
func (s *Server) pickReceiverLocked(systemID string) *session {
	var cands []*session
	for ss := range s.sessions {
		if (ss.bound == bindReceiver || ss.bound == bindTransceiver) &&
			ss.systemID == systemID && len(ss.inflight) < deliverWindow {
			cands = append(cands, ss)
		}
	}
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	slices.SortFunc(cands, func(a, b *session) int { return cmp.Compare(a.id, b.id) })
	s.rr++
	return cands[s.rr%len(cands)]
}

type delivery struct {
	ss    *session
	r     *receipt
	seq   uint32
	frame []byte
}

// dispatch sends due receipts to receivers until ctx ends. It is the only
// goroutine that sends deliver_sm; it waits while no receiver has room.
func (s *Server) dispatch(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var out []delivery
		wait := time.Duration(-1)
		now := time.Now()
		s.mu.Lock()
		for len(s.queue) > 0 {
			r := s.queue[0]
			if d := r.due.Sub(now); d > 0 {
				wait = d
				break
			}
			ss := s.pickReceiverLocked(r.systemID)
			if ss == nil {
				break // wait for a bind or an acknowledgement
			}
			s.queue = s.queue[1:]
			ss.deliverSeq++
			if ss.deliverSeq > 0x7FFFFFFF {
				ss.deliverSeq = 1
			}
			ss.inflight[ss.deliverSeq] = r
			out = append(out, delivery{ss: ss, r: r, seq: ss.deliverSeq})
		}
		s.mu.Unlock()
		for _, d := range out {
			frame, err := s.encodeReceipt(d.seq, d.r, now)
			if err != nil {
				s.log.Error("smsc encode receipt", "err", err)
				continue
			}
			// Counted sent before the writer has it, as answers are: the
			// receiver can read it, and acknowledge it, as soon as it is
			// queued, and Stats must not show it acknowledged but unsent.
			s.mu.Lock()
			s.stats.ReceiptsSent++
			s.mu.Unlock()
			if d.ss.send(frame) {
				s.m.receipts.WithLabelValues(receiptSent).Inc()
			} else { // the session is ending and dropSession requeues it
				s.mu.Lock()
				s.stats.ReceiptsSent--
				s.mu.Unlock()
			}
		}
		if len(out) > 0 {
			continue
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// receiptAnswered handles deliver_sm_resp (or generic_nack) for seq.
func (s *Server) receiptAnswered(ss *session, seq, status uint32) {
	s.mu.Lock()
	r, ok := ss.inflight[seq]
	if ok {
		delete(ss.inflight, seq)
		if status == StatusOK {
			s.stats.ReceiptsAcked++
			s.m.receipts.WithLabelValues(receiptAcked).Inc()
		} else {
			s.requeueLocked(receiptRetry, r)
		}
	}
	s.mu.Unlock()
	if ok {
		s.signal()
	}
}

func (s *Server) bindSession(ss *session, typ, systemID string) {
	s.mu.Lock()
	ss.bound, ss.systemID = typ, systemID
	s.stats.Binds++
	s.mu.Unlock()
	s.signal()
}

func (s *Server) unbindSession(ss *session) {
	s.mu.Lock()
	if ss.bound != "" {
		s.stats.Unbinds++
	}
	ss.bound = ""
	s.mu.Unlock()
}

// dropSession forgets a closed session; its unacknowledged receipts go back
// to the queue for another receiver, as an SMSC retries them.
func (s *Server) dropSession(ss *session) {
	s.mu.Lock()
	delete(s.sessions, ss)
	ss.bound = ""
	var rs []*receipt
	for _, r := range ss.inflight {
		rs = append(rs, r)
	}
	clear(ss.inflight)
	if len(rs) > 0 {
		s.requeueLocked(0, rs...)
	}
	s.mu.Unlock()
	s.signal()
}
