package smpp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fiorix/go-smpp/smpp/pdu"

	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/simcore/simcore/internal/smppframe"
)

const (
	respBit   = smppframe.RespBit
	headerLen = smppframe.HeaderLen
	maxPDULen = smppframe.MaxPDULen

	tagReceiptedMessageID uint16 = 0x001E
	tagMessagePayload     uint16 = 0x0424
	tagMessageState       uint16 = 0x0427
)

// header is a PDU header (see internal/smppframe).
type header = smppframe.Header

var errFrame = smppframe.ErrFrame

// readFrame reads one PDU: its header and the whole frame.
func readFrame(r *bufio.Reader) (header, []byte, error) { return smppframe.Read(r) }

// serialize encodes a go-smpp PDU with our sequence number.
func serialize(p pdu.Body, seq uint32) ([]byte, error) {
	p.Header().Seq = seq
	var b bytes.Buffer
	if err := p.SerializeTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// address is an SMPP address with its type of number and numbering plan.
type address struct {
	ton, npi byte
	addr     string
}

// submitSM is what SendSMS puts in a submit_sm.
type submitSM struct {
	source, dest       address
	esmClass           byte
	registeredDelivery byte
	dataCoding         byte
	shortMessage       []byte // user data header included
}

// newSubmitSM builds the submit_sm PDU with go-smpp's codec.
func newSubmitSM(m submitSM) pdu.Body {
	p := pdu.NewSubmitSM(nil)
	f := p.Fields()
	f.Set(pdufield.SourceAddrTON, m.source.ton)
	f.Set(pdufield.SourceAddrNPI, m.source.npi)
	f.Set(pdufield.SourceAddr, m.source.addr)
	f.Set(pdufield.DestAddrTON, m.dest.ton)
	f.Set(pdufield.DestAddrNPI, m.dest.npi)
	f.Set(pdufield.DestinationAddr, m.dest.addr)
	f.Set(pdufield.ESMClass, m.esmClass)
	f.Set(pdufield.RegisteredDelivery, m.registeredDelivery)
	f.Set(pdufield.ShortMessage, m.shortMessage) // sets sm_length
	f.Set(pdufield.DataCoding, m.dataCoding)
	return p
}

// newBind builds a bind_transmitter or bind_receiver.
func newBind(kind, systemID, password, systemType string) pdu.Body {
	p := pdu.NewBindTransmitter()
	if kind == kindReceiver {
		p = pdu.NewBindReceiver()
	}
	f := p.Fields()
	f.Set(pdufield.SystemID, systemID)
	f.Set(pdufield.Password, password)
	f.Set(pdufield.SystemType, systemType)
	f.Set(pdufield.InterfaceVersion, uint8(0x34))
	return p
}

// encodeResponse encodes the answer to an SMSC's request: deliver_sm_resp
// carries an empty message_id, the others have no body.
func encodeResponse(id pdu.ID, status, seq uint32) []byte {
	b := make([]byte, headerLen, headerLen+1)
	if id == pdu.DeliverSMRespID {
		b = append(b, 0)
	}
	binary.BigEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.BigEndian.PutUint32(b[4:8], uint32(id))
	binary.BigEndian.PutUint32(b[8:12], status)
	binary.BigEndian.PutUint32(b[12:16], seq)
	return b
}

// cstring returns b up to its first NUL (all of b if there is none).
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// deliverSM is a decoded deliver_sm.
type deliverSM struct {
	source, dest string
	esmClass     byte
	dataCoding   byte
	// shortMessage is short_message without its user data header, or the
	// message_payload TLV when short_message is empty.
	shortMessage []byte
	tlvs         map[uint16][]byte
	// truncated notes a length (sm_length, a TLV's) that ran past the PDU:
	// what was there was kept.
	truncated bool
}

// decodeDeliverSM decodes a deliver_sm frame, tolerating what real SMSCs
// send: an sm_length or TLV length running past the PDU keeps the bytes
// that are there. It fails only when a mandatory C-string is unterminated.
func decodeDeliverSM(frame []byte) (deliverSM, error) {
	if len(frame) < headerLen {
		return deliverSM{}, fmt.Errorf("%w: deliver_sm of %d octets", errFrame, len(frame))
	}
	r := fieldReader{b: frame[headerLen:]}
	var d deliverSM
	r.cstr() // service_type
	r.byte1()
	r.byte1()
	d.source = r.cstr()
	r.byte1()
	r.byte1()
	d.dest = r.cstr()
	d.esmClass = r.byte1()
	r.byte1() // protocol_id
	r.byte1() // priority_flag
	r.cstr()  // schedule_delivery_time
	r.cstr()  // validity_period
	r.byte1() // registered_delivery
	r.byte1() // replace_if_present_flag
	d.dataCoding = r.byte1()
	r.byte1() // sm_default_msg_id
	smLen := int(r.byte1())
	if r.err != nil {
		return deliverSM{}, fmt.Errorf("%w: deliver_sm: %v", errFrame, r.err)
	}
	if smLen > len(r.b) {
		smLen, d.truncated = len(r.b), true
	}
	sm := r.b[:smLen]
	r.b = r.b[smLen:]
	for len(r.b) >= 4 {
		tag, n := binary.BigEndian.Uint16(r.b[0:2]), int(binary.BigEndian.Uint16(r.b[2:4]))
		r.b = r.b[4:]
		if n > len(r.b) {
			n, d.truncated = len(r.b), true
		}
		if d.tlvs == nil {
			d.tlvs = make(map[uint16][]byte)
		}
		d.tlvs[tag] = r.b[:n]
		r.b = r.b[n:]
	}
	if len(sm) == 0 {
		sm = d.tlvs[tagMessagePayload]
	}
	if d.esmClass&0x40 != 0 && len(sm) > 0 { // UDHI: skip the user data header
		if n := int(sm[0]) + 1; n <= len(sm) {
			sm = sm[n:]
		}
	}
	d.shortMessage = sm
	return d, nil
}

type fieldReader struct {
	b   []byte
	err error
}

func (r *fieldReader) byte1() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = cmpErr(r.err, io.ErrUnexpectedEOF)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fieldReader) cstr() string {
	if r.err != nil {
		return ""
	}
	i := bytes.IndexByte(r.b, 0)
	if i < 0 {
		r.err = errors.New("unterminated C-string")
		return ""
	}
	s := string(r.b[:i])
	r.b = r.b[i+1:]
	return s
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
