package smsc

import (
	"bufio"
	"encoding/binary"
	"fmt"

	"github.com/fiorix/go-smpp/smpp/pdu"

	"github.com/simcore/simcore/internal/smppframe"
)

// Command statuses the simulator sends (SMPP 3.4 §5.1.3).
const (
	StatusOK          uint32 = 0x00
	StatusInvCmdLen   uint32 = 0x02 // ESME_RINVCMDLEN
	StatusInvCmdID    uint32 = 0x03 // ESME_RINVCMDID
	StatusInvBndSts   uint32 = 0x04 // ESME_RINVBNDSTS
	StatusAlyBnd      uint32 = 0x05 // ESME_RALYBND
	StatusSysErr      uint32 = 0x08 // ESME_RSYSERR: transient
	StatusInvDstAdr   uint32 = 0x0B // ESME_RINVDSTADR: permanent
	StatusBindFail    uint32 = 0x0D // ESME_RBINDFAIL
	StatusInvPaswd    uint32 = 0x0E // ESME_RINVPASWD
	StatusThrottled   uint32 = 0x58 // ESME_RTHROTTLED: transient
	StatusInvMsgLen   uint32 = 0x01 // ESME_RINVMSGLEN
	StatusInvSrcAdr   uint32 = 0x0A // ESME_RINVSRCADR
	respBit                  = smppframe.RespBit
	headerLen                = smppframe.HeaderLen
	maxPDULen                = smppframe.MaxPDULen
	tagReceiptedID    uint16 = 0x001E
	tagMessageState   uint16 = 0x0427
	tagMessagePayload uint16 = 0x0424
	tagSCInterface    uint16 = 0x0210
)

// Message states of the message_state TLV (SMPP 3.4 §5.2.28).
const (
	stateDelivered     byte = 2
	stateUndeliverable byte = 5
)

// header is a PDU header (see internal/smppframe).
type header = smppframe.Header

var errFrame = smppframe.ErrFrame

// readFrame reads one PDU: its header and the whole frame.
func readFrame(r *bufio.Reader) (header, []byte, error) { return smppframe.Read(r) }

// builder appends a PDU; finish writes command_length.
type builder []byte

func newPDU(id pdu.ID, status, seq uint32) builder {
	b := make(builder, headerLen, 64)
	binary.BigEndian.PutUint32(b[4:8], uint32(id))
	binary.BigEndian.PutUint32(b[8:12], status)
	binary.BigEndian.PutUint32(b[12:16], seq)
	return b
}

func (b builder) byte1(v byte) builder { return append(b, v) }

func (b builder) cstring(s string) builder { return append(append(b, s...), 0) }

func (b builder) tlv(tag uint16, v []byte) builder {
	b = binary.BigEndian.AppendUint16(b, tag)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

func (b builder) finish() []byte {
	binary.BigEndian.PutUint32(b[0:4], uint32(len(b)))
	return b
}

// encodeEmpty encodes a PDU without a body: enquire_link(_resp), unbind(_resp),
// generic_nack.
func encodeEmpty(id pdu.ID, status, seq uint32) []byte {
	return newPDU(id, status, seq).finish()
}

// encodeBindResp encodes a bind_*_resp. The system_id is sent even on a
// refusal (real SMSCs do; SMPP 3.4 lets it be omitted); a successful bind
// also announces interface version 3.4 (sc_interface_version).
func encodeBindResp(id pdu.ID, status, seq uint32, systemID string) []byte {
	b := newPDU(id, status, seq).cstring(systemID)
	if status == StatusOK {
		b = b.tlv(tagSCInterface, []byte{0x34})
	}
	return b.finish()
}

// encodeSubmitSMResp encodes a submit_sm_resp: the message id on success, no
// body on an error (SMPP 3.4 §4.4.2).
func encodeSubmitSMResp(status, seq uint32, messageID string) []byte {
	b := newPDU(pdu.SubmitSMRespID, status, seq)
	if status == StatusOK {
		b = b.cstring(messageID)
	}
	return b.finish()
}

type tlv struct {
	tag   uint16
	value []byte
}

// deliverSM is the body of a deliver_sm (SMPP 3.4 §4.6.1).
type deliverSM struct {
	serviceType          string
	sourceTON, sourceNPI byte
	source               string
	destTON, destNPI     byte
	dest                 string
	esmClass             byte
	protocolID           byte
	priority             byte
	scheduleDelivery     string
	validityPeriod       string
	registeredDelivery   byte
	replaceIfPresent     byte
	dataCoding           byte
	defaultMsgID         byte
	shortMessage         []byte
	tlvs                 []tlv
}

// encodeDeliverSM encodes a deliver_sm with its TLVs in the given order.
func encodeDeliverSM(seq uint32, d deliverSM) ([]byte, error) {
	if len(d.shortMessage) > 254 {
		return nil, fmt.Errorf("deliver_sm: short_message of %d octets (max 254)", len(d.shortMessage))
	}
	b := newPDU(pdu.DeliverSMID, 0, seq).
		cstring(d.serviceType).
		byte1(d.sourceTON).byte1(d.sourceNPI).cstring(d.source).
		byte1(d.destTON).byte1(d.destNPI).cstring(d.dest).
		byte1(d.esmClass).byte1(d.protocolID).byte1(d.priority).
		cstring(d.scheduleDelivery).cstring(d.validityPeriod).
		byte1(d.registeredDelivery).byte1(d.replaceIfPresent).
		byte1(d.dataCoding).byte1(d.defaultMsgID).
		byte1(byte(len(d.shortMessage)))
	b = append(b, d.shortMessage...)
	for _, t := range d.tlvs {
		b = b.tlv(t.tag, t.value)
	}
	return b.finish(), nil
}
