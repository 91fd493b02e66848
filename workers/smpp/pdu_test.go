package smpp

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/fiorix/go-smpp/smpp/pdu"
)

// The PDUs we send, byte for byte against PDUs captured by cloudhopper-smpp.
func TestEncodeMatchesCapturedPDUs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string // file/method/kind of the vector
		file   string
		method string
		kind   string
		encode func() ([]byte, error)
	}{
		{"submit_sm", "PduEncoderTest_vectors.tsv", "encodeSubmitSm", "encode_expected", func() ([]byte, error) {
			return serialize(newSubmitSM(submitSM{
				source:             address{ton: 1, npi: 1, addr: "40404"},
				dest:               address{ton: 1, npi: 1, addr: "44951361920"},
				registeredDelivery: 1,
				shortMessage:       []byte("@$#!%&/:"),
			}), 0x4fe8)
		}},
		{"bind_transmitter", "PduEncoderTest_vectors.tsv", "encodeBindTransmitter", "encode_expected", func() ([]byte, error) {
			return serialize(newBind(kindTransmitter, "twitter", "twitter", ""), 0x3995f)
		}},
		{"bind_receiver", "PduEncoderTest_vectors.tsv", "encodeBindReceiver", "encode_expected", func() ([]byte, error) {
			return serialize(newBind(kindReceiver, "twitter", "twitter", ""), 0x39961)
		}},
		{"enquire_link", "PduEncoderTest_vectors.tsv", "encodeEnquireLink", "encode_expected", func() ([]byte, error) {
			return serialize(pdu.NewEnquireLink(), 0x0a342ee7)
		}},
		{"unbind", "PduEncoderTest_vectors.tsv", "encodeUnbind", "encode_expected", func() ([]byte, error) {
			return serialize(pdu.NewUnbind(), 1)
		}},
		{"enquire_link_resp", "PduEncoderTest_vectors.tsv", "encodeEnquireLinkResp", "encode_expected", func() ([]byte, error) {
			return encodeResponse(pdu.EnquireLinkRespID, 0, 0x0a342eed), nil
		}},
		{"unbind_resp", "PduEncoderTest_vectors.tsv", "encodeUnbindResp", "encode_expected", func() ([]byte, error) {
			return encodeResponse(pdu.UnbindRespID, 0, 1), nil
		}},
		{"generic_nack", "PduEncoderTest_vectors.tsv", "encodeGenericNack", "encode_expected", func() ([]byte, error) {
			return encodeResponse(pdu.GenericNACKID, 1, 0x00082a77), nil
		}},
		{"deliver_sm_resp", "PduDecoderTest_vectors.tsv", "decodeDeliverSmRespWithEmptyMessageId", "decode_input", func() ([]byte, error) {
			return encodeResponse(pdu.DeliverSMRespID, 0, 0x00116ac7), nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := vectorBytes(t, tt.file, tt.method, tt.kind)
			got, err := tt.encode()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encoded\n got %x\nwant %x", got, want)
			}
		})
	}
}

func TestReadFrame(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		ok     bool
	}{
		{"enquire_link", "decodeEnquireLink", true},
		{"max sequence number", "decodeMaxSequenceNumber", true},
		{"less than 4 bytes", "decodeLessThan4Bytes", false},
		{"less than 16 bytes", "decodeLessThan16Bytes", false},
		{"signed length", "decodeSignedIntLength", false},
		{"submit_sm_resp", "decodeSubmitSmResp", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := vectorBytes(t, "PduDecoderTest_vectors.tsv", tt.method, "decode_input")
			h, frame, err := readFrame(bufio.NewReader(bytes.NewReader(b)))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (!bytes.Equal(frame, b) || int(h.Length) != len(b)) {
				t.Errorf("frame %x, want %x", frame, b)
			}
		})
	}
}

func TestCString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method string
		want   string
	}{
		{"decodeSubmitSmResp", "94258431594"},
		{"decodeSubmitSmRespWithEmptyMessageId", ""},
		{"decodeSubmitSmRespWithNoMessageId", ""},
		{"decodeSubmitSmRespWithNoNullByteForMessageId", "9"},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			t.Parallel()
			b := vectorBytes(t, "PduDecoderTest_vectors.tsv", tt.method, "decode_input")
			if got := cstring(b[headerLen:]); got != tt.want {
				t.Errorf("message id %q, want %q", got, tt.want)
			}
		})
	}
}
