package smsc

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

// Bind types, as metric labels.
const (
	bindTransmitter = "transmitter"
	bindReceiver    = "receiver"
	bindTransceiver = "transceiver"
)

const (
	outQueue       = 1024 // frames waiting for the writer
	delayQueue     = 8192 // submit_sm waiting for RespDelay
	deliverWindow  = 64   // deliver_sm outstanding per session
	writeTimeout   = 10 * time.Second
	receiptRetry   = time.Second
	readBufferSize = 32 << 10
)

// session is one SMPP connection. It runs three goroutines: the reader
// (which answers requests), the writer (which owns the connection's writes
// and batches them) and the responder (which holds answers for RespDelay).
type session struct {
	srv  *Server
	id   uint64 // connection number, for a stable receiver order
	conn net.Conn
	log  *slog.Logger

	out     chan []byte // nil frame: flush, then close the connection
	delayed chan delayedFrame
	quit    chan struct{}

	// Bind state; written by the reader, read under srv.mu by the dispatcher.
	bound    string // "", bindTransmitter, bindReceiver, bindTransceiver
	systemID string

	// Receipts in flight, guarded by srv.mu.
	deliverSeq uint32
	inflight   map[uint32]*receipt
}

type delayedFrame struct {
	due   time.Time
	frame []byte
}

func newSession(s *Server, c net.Conn) *session {
	return &session{
		srv:      s,
		id:       s.nextConn.Add(1),
		conn:     c,
		log:      s.log.With("remote", c.RemoteAddr().String()),
		out:      make(chan []byte, outQueue),
		delayed:  make(chan delayedFrame, delayQueue),
		quit:     make(chan struct{}),
		inflight: make(map[uint32]*receipt),
	}
}

func (ss *session) run() {
	done := make(chan struct{}, 2)
	go func() { ss.write(); done <- struct{}{} }()
	go func() { ss.respond(); done <- struct{}{} }()
	err := ss.read()
	close(ss.quit)
	ss.conn.Close()
	<-done
	<-done
	// Answers still held by the responder are never sent.
	for range len(ss.delayed) {
		<-ss.delayed
		ss.srv.outstandingAdd(-1)
	}
	ss.srv.dropSession(ss)
	ss.srv.m.sessions.Dec()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		ss.log.Info("smsc session ended", "err", err)
	} else {
		ss.log.Debug("smsc session ended")
	}
}

// send queues a frame for the writer; false if the session is ending.
func (ss *session) send(frame []byte) bool {
	select {
	case ss.out <- frame:
		return true
	case <-ss.quit:
		return false
	}
}

func (ss *session) write() {
	w := bufio.NewWriterSize(ss.conn, 32<<10)
	for {
		var f []byte
		select {
		case f = <-ss.out:
		case <-ss.quit:
			return
		}
		closing := f == nil
		w.Write(f)
		for more := !closing; more; { // batch what is already queued
			select {
			case f = <-ss.out:
				if f == nil {
					closing, more = true, false
				} else {
					w.Write(f)
				}
			default:
				more = false
			}
		}
		ss.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := w.Flush(); err != nil || closing {
			ss.conn.Close()
			return
		}
	}
}

func (ss *session) respond() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		var d delayedFrame
		select {
		case d = <-ss.delayed:
		case <-ss.quit:
			return
		}
		if wait := time.Until(d.due); wait > 0 {
			t.Reset(wait)
			select {
			case <-t.C:
			case <-ss.quit:
				ss.srv.outstandingAdd(-1)
				return
			}
		}
		// Counted answered before the writer has it: the client can see the
		// answer, and send again, only after.
		ss.srv.outstandingAdd(-1)
		if !ss.send(d.frame) {
			return
		}
	}
}

func (ss *session) read() error {
	r := bufio.NewReaderSize(ss.conn, readBufferSize)
	for {
		h, frame, err := readFrame(r)
		if err != nil {
			if errors.Is(err, errFrame) {
				// The stream cannot be resynchronised: answer, and let the
				// writer close the connection once the answer is out.
				ss.send(encodeEmpty(pdu.GenericNACKID, StatusInvCmdLen, h.Seq))
				ss.send(nil)
				io.Copy(io.Discard, r)
			}
			return err
		}
		switch h.ID {
		case pdu.BindTransmitterID, pdu.BindReceiverID, pdu.BindTransceiverID:
			ss.bind(h, frame)
		case pdu.EnquireLinkID:
			ss.send(encodeEmpty(pdu.EnquireLinkRespID, StatusOK, h.Seq))
		case pdu.UnbindID:
			ss.srv.unbindSession(ss)
			ss.send(encodeEmpty(pdu.UnbindRespID, StatusOK, h.Seq))
			ss.send(nil) // the writer closes after flushing; the next read fails
		case pdu.SubmitSMID:
			ss.submit(h, frame)
		case pdu.DeliverSMRespID, pdu.GenericNACKID:
			ss.srv.receiptAnswered(ss, h.Seq, h.Status)
		case pdu.EnquireLinkRespID, pdu.UnbindRespID:
		default:
			if uint32(h.ID)&respBit == 0 {
				ss.send(encodeEmpty(pdu.GenericNACKID, StatusInvCmdID, h.Seq))
			}
		}
	}
}

func bindType(id pdu.ID) string {
	switch id {
	case pdu.BindTransmitterID:
		return bindTransmitter
	case pdu.BindReceiverID:
		return bindReceiver
	default:
		return bindTransceiver
	}
}

func (ss *session) bind(h header, frame []byte) {
	typ := bindType(h.ID)
	respID := h.ID | pdu.ID(respBit)
	status := StatusOK
	var systemID, password string
	p, err := pdu.Decode(bytes.NewReader(frame))
	if err == nil {
		systemID = fieldString(p.Fields(), pdufield.SystemID)
		password = fieldString(p.Fields(), pdufield.Password)
	}
	switch {
	case err != nil:
		status = StatusBindFail
	case ss.bound != "":
		status = StatusAlyBnd
	case systemID != ss.srv.cfg.SystemID:
		status = StatusBindFail
	case subtle.ConstantTimeCompare([]byte(password), []byte(ss.srv.cfg.Password)) != 1:
		status = StatusInvPaswd
	}
	if status != StatusOK {
		ss.srv.m.binds.WithLabelValues(typ, outcomeRefused).Inc()
		ss.log.Info("smsc bind refused", "type", typ, "system_id", systemID, "status", status)
		ss.send(encodeBindResp(respID, status, h.Seq, ss.srv.cfg.SystemID))
		return
	}
	// Answer first: once bound the session may get receipts, which must
	// not overtake bind_resp.
	ss.send(encodeBindResp(respID, StatusOK, h.Seq, ss.srv.cfg.SystemID))
	ss.srv.bindSession(ss, typ, systemID)
	ss.srv.m.binds.WithLabelValues(typ, outcomeOK).Inc()
	ss.log.Info("smsc bound", "type", typ, "system_id", systemID)
}

func fieldString(f pdufield.Map, name pdufield.Name) string {
	if v, ok := f[name]; ok && v != nil {
		return v.String()
	}
	return ""
}

func fieldByte(f pdufield.Map, name pdufield.Name) byte {
	if v, ok := f[name].(*pdufield.Fixed); ok {
		return v.Data
	}
	return 0
}

func (ss *session) submit(h header, frame []byte) {
	s := ss.srv
	s.outstandingAdd(1)
	status, id := ss.accept(frame)
	resp := encodeSubmitSMResp(status, h.Seq, id)
	if s.cfg.RespDelay <= 0 {
		s.outstandingAdd(-1)
		ss.send(resp)
		return
	}
	select {
	case ss.delayed <- delayedFrame{due: time.Now().Add(s.cfg.RespDelay), frame: resp}:
	case <-ss.quit:
		s.outstandingAdd(-1)
	}
}

// accept decides a submit_sm's fate and records an accepted message.
func (ss *session) accept(frame []byte) (status uint32, id string) {
	s := ss.srv
	outcome := outcomeInvalid
	defer func() { s.m.submits.WithLabelValues(outcome).Inc() }()
	s.mu.Lock()
	s.stats.Submits++
	s.mu.Unlock()
	if ss.bound != bindTransmitter && ss.bound != bindTransceiver {
		return StatusInvBndSts, ""
	}
	p, err := pdu.Decode(bytes.NewReader(frame))
	if err != nil {
		ss.log.Debug("smsc undecodable submit_sm", "err", err)
		return StatusInvMsgLen, ""
	}
	f := p.Fields()
	rec := record{
		msg: Message{
			SystemID:    ss.systemID,
			Source:      fieldString(f, pdufield.SourceAddr),
			Destination: fieldString(f, pdufield.DestinationAddr),
			ESMClass:    fieldByte(f, pdufield.ESMClass),
			DataCoding:  fieldByte(f, pdufield.DataCoding),
			Received:    time.Now(),
		},
	}
	if sm, ok := f[pdufield.ShortMessage]; ok && sm != nil {
		rec.payload = sm.Bytes()
	}
	if len(rec.payload) == 0 {
		if t, ok := p.TLVFields()[pdutlv.Tag(tagMessagePayload)]; ok {
			rec.payload = t.Bytes()
		}
	}
	registered := fieldByte(f, pdufield.RegisteredDelivery)
	rec.msg.RegisteredDelivery = registered
	if rec.msg.ESMClass&0x40 != 0 {
		var ok bool
		rec.msg.Ref, rec.msg.Part, rec.msg.Total, rec.payload, ok = splitUDH(rec.payload)
		if !ok {
			return StatusInvMsgLen, ""
		}
	}
	dst := rec.msg.Destination
	switch {
	case rec.msg.Source == "":
		outcome = outcomeRejected
		return StatusInvSrcAdr, ""
	case dst == "" || !isDigits(dst) || hasPrefix(dst, s.cfg.RejectPrefixes):
		outcome = outcomeRejected
		return StatusInvDstAdr, ""
	case s.cfg.FailureRate > 0 && rand.Float64() < s.cfg.FailureRate:
		outcome = outcomeFailed
		if rand.IntN(2) == 0 {
			return StatusThrottled, ""
		}
		return StatusSysErr, ""
	}
	outcome = outcomeAccepted
	n := s.newMessageID()
	rec.msg.ID = formatID(n, s.cfg.IDFormat)
	undeliverable := hasPrefix(dst, s.cfg.UndeliverablePrefixes)
	s.record(rec)
	// registered_delivery bits 0-1: 01 receipt on success or failure, 10 on failure only.
	if r := registered & 0x03; r == 1 || (r == 2 && undeliverable) {
		s.schedule(&receipt{
			systemID:      ss.systemID,
			id:            n,
			source:        rec.msg.Source,
			dest:          dst,
			submitted:     rec.msg.Received,
			due:           rec.msg.Received.Add(s.cfg.ReceiptDelay),
			undeliverable: undeliverable,
			text:          receiptText(rec.msg.DataCoding, rec.payload),
		})
	}
	return StatusOK, rec.msg.ID
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// splitUDH takes the user data header off a short message and returns the
// concatenation information element, 8-bit (IE 0x00) or 16-bit (IE 0x08)
// reference; ok is false for a header longer than the message.
func splitUDH(sm []byte) (ref uint16, part, total uint8, payload []byte, ok bool) {
	if len(sm) == 0 || int(sm[0])+1 > len(sm) {
		return 0, 0, 0, sm, false
	}
	udh, payload := sm[1:1+int(sm[0])], sm[1+int(sm[0]):]
	for len(udh) >= 2 {
		iei, l := udh[0], int(udh[1])
		if 2+l > len(udh) {
			return 0, 0, 0, payload, false
		}
		v := udh[2 : 2+l]
		switch {
		case iei == 0x00 && l == 3:
			ref, total, part = uint16(v[0]), v[1], v[2]
		case iei == 0x08 && l == 4:
			ref, total, part = uint16(v[0])<<8|uint16(v[1]), v[2], v[3]
		}
		udh = udh[2+l:]
	}
	return ref, part, total, payload, true
}
