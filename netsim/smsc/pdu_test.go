package smsc

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
	"github.com/google/go-cmp/cmp"
)

// encoderVectors reads testdata/PduEncoderTest_vectors.tsv: test method →
// expected PDU.
func encoderVectors(t *testing.T) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/PduEncoderTest_vectors.tsv")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		f := strings.Split(line, "\t")
		v, err := hex.DecodeString(f[2])
		if err != nil {
			t.Fatalf("%s: %v", f[0], err)
		}
		out[f[0]] = v
	}
	return out
}

func TestEncodeMatchesCapturedPDUs(t *testing.T) {
	t.Parallel()
	vec := encoderVectors(t)
	receipt := "id:0059113978 sub:001 dlvrd:001 submit date:1002101730 done date:1002101731 stat:DELIVRD err:000 text:@$#!%&/:"
	tests := []struct {
		name   string // the vector's test method
		encode func() ([]byte, error)
	}{
		{"encodeEnquireLinkResp", func() ([]byte, error) {
			return encodeEmpty(pdu.EnquireLinkRespID, 0, 0x0a342eed), nil
		}},
		{"encodeUnbindResp", func() ([]byte, error) { return encodeEmpty(pdu.UnbindRespID, 0, 1), nil }},
		{"encodeGenericNack", func() ([]byte, error) {
			return encodeEmpty(pdu.GenericNACKID, 1, 0x00082a77), nil
		}},
		{"encodeSubmitSmResp", func() ([]byte, error) {
			return encodeSubmitSMResp(0, 0x0a342ee1, "94258431594"), nil
		}},
		{"encodeSubmitSmRespWithNullMessageId", func() ([]byte, error) {
			return encodeSubmitSMResp(0, 0x0a342ee1, ""), nil
		}},
		{"encodeSubmitSmRespWithOmittedMesageId", func() ([]byte, error) {
			return encodeSubmitSMResp(0x30, 0x0a342ee1, "ignored on error"), nil
		}},
		{"encodeBindTransceiverRespWithOptionalParams", func() ([]byte, error) {
			return encodeBindResp(pdu.BindTransceiverRespID, 0, 0x39943, "Smsc GW"), nil
		}},
		{"encodeBindTransmitterRespWithOptionalParams", func() ([]byte, error) {
			return encodeBindResp(pdu.BindTransmitterRespID, 0, 0x3995f, "TWITTER"), nil
		}},
		{"encodeBindTransceiverRespFailedButWithSystemId", func() ([]byte, error) {
			return encodeBindResp(pdu.BindTransceiverRespID, StatusInvPaswd, 0x4db3, "SMSC"), nil
		}},
		{"encodeDeliverSm", func() ([]byte, error) {
			return encodeDeliverSM(3, deliverSM{
				sourceTON: 2, sourceNPI: 1, source: "87654321",
				destTON: 4, destNPI: 9, dest: "40404",
				shortMessage: []byte("@$#!%&/:"),
				tlvs:         []tlv{{0x000e, []byte{1}}, {0x0006, []byte{1}}},
			})
		}},
		{"encodeDeliverSmAsDeliveryReceipt", func() ([]byte, error) {
			return encodeDeliverSM(2, deliverSM{
				sourceTON: 1, sourceNPI: 1, source: "44951361920",
				destTON: 1, destNPI: 1, dest: "40404",
				esmClass:     0x04,
				shortMessage: []byte(receipt),
				tlvs: []tlv{
					{0x000e, []byte{1}}, {0x0006, []byte{1}},
					{tagReceiptedID, []byte("38601fa\x00")}, {tagMessageState, []byte{stateDelivered}},
				},
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want, ok := vec[tt.name]
			if !ok {
				t.Fatalf("no vector %s", tt.name)
			}
			got, err := tt.encode()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encoded\n got %x\nwant %x", got, want)
			}
			// Our frames read back through the framer unchanged.
			h, frame, err := readFrame(bufio.NewReader(bytes.NewReader(got)))
			if err != nil || !bytes.Equal(frame, got) || int(h.Length) != len(got) {
				t.Errorf("readFrame: %v, %x", err, frame)
			}
		})
	}
}

// A receipt encoded by the simulator decodes with go-smpp's codec, which a
// client built on that library would use.
func TestEncodeReceiptDecodesWithGoSMPP(t *testing.T) {
	t.Parallel()
	s, err := New(Config{SystemID: "sim", IDFormat: IDHex, ReceiptIDFormat: IDDecimal})
	if err != nil {
		t.Fatal(err)
	}
	r := &receipt{id: 0x673F4A62, source: "SIMCORE", dest: "4512345678", text: "Hello"}
	frame, err := s.encodeReceipt(7, r, r.submitted)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pdu.Decode(bytes.NewReader(frame))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"text":  p.Fields()[pdufield.ShortMessage].String(),
		"tlvid": p.TLVFields()[pdutlv.TagReceiptedMessageID].String(),
		"state": hex.EncodeToString(p.TLVFields()[pdutlv.TagMessageStateOption].Bytes()),
		"src":   p.Fields()[pdufield.SourceAddr].String(),
		"dst":   p.Fields()[pdufield.DestinationAddr].String(),
	}
	want := map[string]string{
		"text":  "id:1732201058 sub:001 dlvrd:001 submit date:0101010000 done date:0101010000 stat:DELIVRD err:000 text:Hello",
		"tlvid": "673F4A62",
		"state": "02",
		"src":   "4512345678",
		"dst":   "SIMCORE",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("decoded receipt (-want +got):\n%s", d)
	}
	if p.Header().Seq != 7 {
		t.Errorf("seq %d, want 7", p.Header().Seq)
	}
}

func TestEncodeDeliverSMRefusesLongMessage(t *testing.T) {
	t.Parallel()
	if _, err := encodeDeliverSM(1, deliverSM{shortMessage: make([]byte, 255)}); err == nil {
		t.Fatal("255-octet short_message encoded")
	}
}

func TestReadFrameRejectsBadLength(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		hex  string
	}{
		{"shorter than a header", "0000000f00000015000000000a342ee7"},
		{"signed length", "f000001100000110000000000a342ee7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, _ := hex.DecodeString(tt.hex)
			if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(b))); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
