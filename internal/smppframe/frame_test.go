package smppframe

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/fiorix/go-smpp/smpp/pdu"
)

func frame(length uint32, id pdu.ID, status, seq uint32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, length)
	b = binary.BigEndian.AppendUint32(b, uint32(id))
	b = binary.BigEndian.AppendUint32(b, status)
	b = binary.BigEndian.AppendUint32(b, seq)
	return append(b, body...)
}

func TestRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		want    Header
		wantErr error
	}{
		{"enquire_link", frame(16, pdu.EnquireLinkID, 0, 7, nil), Header{16, pdu.EnquireLinkID, 0, 7}, nil},
		{"with a body", frame(20, pdu.SubmitSMRespID, 0x58, 9, []byte("abc\x00")), Header{20, pdu.SubmitSMRespID, 0x58, 9}, nil},
		{"length under a header", frame(15, pdu.EnquireLinkID, 0, 1, nil), Header{}, ErrFrame},
		{"length over the limit", frame(MaxPDULen+1, pdu.SubmitSMID, 0, 1, nil), Header{}, ErrFrame},
		{"body cut short", frame(30, pdu.SubmitSMID, 0, 1, []byte("ab")), Header{}, io.ErrUnexpectedEOF},
		{"header cut short", []byte{0, 0, 0}, Header{}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, f, err := Read(bufio.NewReader(bytes.NewReader(tt.in)))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || h != tt.want || !bytes.Equal(f, tt.in) {
				t.Fatalf("Read = %+v, %x, %v; want %+v and the whole frame", h, f, err, tt.want)
			}
		})
	}
}
