// Package smppframe reads SMPP 3.4 PDU frames: the 16-byte header and the
// bytes its command_length announces. Both ends of simcore's SMPP (the
// client in workers/smpp and the simulator in netsim/smsc) read frames
// the same way; the PDU bodies are theirs. It imports go-smpp's pdu ids
// only.
package smppframe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fiorix/go-smpp/smpp/pdu"
)

// Frame limits and bits.
const (
	RespBit   uint32 = 0x80000000 // set in the command_id of every response
	HeaderLen        = 16
	MaxPDULen        = 64 << 10 // message_payload may carry up to 64 KiB
)

// Header is a PDU's header.
type Header struct {
	Length uint32
	ID     pdu.ID
	Status uint32
	Seq    uint32
}

// ErrFrame is returned for a command_length that cannot be right.
var ErrFrame = errors.New("smpp: malformed pdu")

// Read reads one PDU and returns its header and the whole frame (header
// included). A length outside [16, MaxPDULen] leaves the stream unreadable,
// so it is an error (ErrFrame) that ends the session.
func Read(r *bufio.Reader) (Header, []byte, error) {
	var hb [HeaderLen]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return Header{}, nil, err
	}
	h := Header{
		Length: binary.BigEndian.Uint32(hb[0:4]),
		ID:     pdu.ID(binary.BigEndian.Uint32(hb[4:8])),
		Status: binary.BigEndian.Uint32(hb[8:12]),
		Seq:    binary.BigEndian.Uint32(hb[12:16]),
	}
	if h.Length < HeaderLen || h.Length > MaxPDULen {
		return h, nil, fmt.Errorf("%w: command_length %d", ErrFrame, h.Length)
	}
	frame := make([]byte, h.Length)
	copy(frame, hb[:])
	if _, err := io.ReadFull(r, frame[HeaderLen:]); err != nil {
		return h, nil, err
	}
	return h, frame, nil
}
