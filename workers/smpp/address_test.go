package smpp

import (
	"errors"
	"testing"

	"github.com/simcore/simcore/provisioning"
)

func TestAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fn      func(string) (address, error)
		in      string
		want    address
		wantErr bool
	}{
		{"destination e164", destinationAddress, "4512345678", address{1, 1, "4512345678"}, false},
		{"destination with plus", destinationAddress, "+4512345678", address{}, true},
		{"destination too long", destinationAddress, "1234567890123456", address{}, true},
		{"destination empty", destinationAddress, "", address{}, true},
		{"source number", sourceAddress, "4512345678", address{1, 1, "4512345678"}, false},
		{"source alphanumeric", sourceAddress, "simcore", address{5, 0, "simcore"}, false},
		{"source 11 characters", sourceAddress, "Simcore Ltd", address{5, 0, "Simcore Ltd"}, false},
		{"source 12 characters", sourceAddress, "Simcore Ltd.", address{}, true},
		{"source non-ascii", sourceAddress, "Blåbær", address{}, true},
		{"source empty", sourceAddress, "", address{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.fn(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, provisioning.ErrPermanent) {
				t.Errorf("error %v does not wrap ErrPermanent", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStatusError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status    uint32
		permanent bool
		text      string
	}{
		{0x0B, true, "smpp: submit_sm: ESME_RINVDSTADR (0xb)"},
		{0x58, false, "smpp: submit_sm: ESME_RTHROTTLED (0x58)"},
		{0x08, false, "smpp: submit_sm: ESME_RSYSERR (0x8)"},
		{0x45, false, "smpp: submit_sm: ESME_RSUBMITFAIL (0x45)"},
		{0x401, false, "smpp: submit_sm: vendor status (0x401)"},
		{0x66, true, "smpp: submit_sm: ESME_RX_R_APPN (0x66)"},
	}
	for _, tt := range tests {
		err := error(&StatusError{Command: "submit_sm", Status: tt.status})
		if got := errors.Is(err, provisioning.ErrPermanent); got != tt.permanent {
			t.Errorf("%#x: permanent %v, want %v", tt.status, got, tt.permanent)
		}
		if err.Error() != tt.text {
			t.Errorf("%#x: %q, want %q", tt.status, err.Error(), tt.text)
		}
	}
}
