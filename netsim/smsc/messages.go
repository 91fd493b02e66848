package smsc

import (
	"slices"
	"time"
)

// Message is a submit_sm the simulator accepted: one part of a text.
type Message struct {
	ID          string // the message id returned in submit_sm_resp
	SystemID    string
	Source      string
	Destination string
	ESMClass    byte
	DataCoding  byte
	// RegisteredDelivery is the receipt the sender asked for: 0 none, 1
	// on final delivery or failure, 2 on failure only.
	RegisteredDelivery byte
	// Text is this part's text, decoded by DataCoding (GSM 03.38 7-bit
	// unpacked, UCS-2, Latin-1 or ASCII), without the user data header.
	Text string
	// Ref, Part and Total come from the concatenation element of the user
	// data header (8- or 16-bit reference); all zero for a single message.
	Ref         uint16
	Part, Total uint8
	// FullText is the whole text: a single message's Text, or on the part
	// that completed a concatenated message, the parts' payloads joined in
	// order and then decoded. It is empty on the other parts.
	FullText string
	Received time.Time
}

type record struct {
	msg     Message
	payload []byte // undecoded, without user data header
}

// record keeps an accepted message, the most recent MaxMessages.
func (s *Server) record(r record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Accepted++
	switch max := s.cfg.MaxMessages; {
	case max < 0:
	case len(s.records) < max:
		s.records = append(s.records, r)
	default:
		s.records[s.recNext] = r
		s.recNext = (s.recNext + 1) % max
	}
}

// Messages returns the accepted messages kept, oldest first, with their
// texts decoded and concatenated messages reassembled.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	recs := slices.Concat(s.records[s.recNext:], s.records[:s.recNext])
	s.mu.Unlock()
	return assemble(recs)
}

type concatKey struct {
	systemID, source, dest string
	ref                    uint16
	total                  uint8
	coding                 byte
}

// assemble decodes each record and sets FullText on single messages and on
// the part that completes a concatenated one. A reference reused after its
// message completed starts a new message.
func assemble(recs []record) []Message {
	out := make([]Message, len(recs))
	type partial struct {
		payloads [][]byte
		have     []bool
	}
	pending := map[concatKey]*partial{}
	for i, r := range recs {
		m := r.msg
		m.Text = decodeText(m.DataCoding, r.payload)
		if m.Total == 0 {
			m.FullText = m.Text
			out[i] = m
			continue
		}
		k := concatKey{m.SystemID, m.Source, m.Destination, m.Ref, m.Total, m.DataCoding}
		p := pending[k]
		if p == nil {
			p = &partial{payloads: make([][]byte, m.Total), have: make([]bool, m.Total)}
			pending[k] = p
		}
		if m.Part >= 1 && m.Part <= m.Total {
			p.payloads[m.Part-1], p.have[m.Part-1] = r.payload, true
		}
		if !slices.Contains(p.have, false) {
			m.FullText = decodeText(m.DataCoding, slices.Concat(p.payloads...))
			delete(pending, k)
		}
		out[i] = m
	}
	return out
}
