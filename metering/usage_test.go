package metering_test

import (
	"errors"
	"testing"

	"github.com/simcore/simcore/metering"
)

func TestUsageTypeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		typ  metering.UsageType
		want string
	}{
		{name: "data", typ: metering.TypeData, want: "data"},
		{name: "voice", typ: metering.TypeVoice, want: "voice"},
		{name: "sms", typ: metering.TypeSMS, want: "sms"},
		{name: "zero", typ: 0, want: "UsageType(0)"},
		{name: "unknown", typ: 9, want: "UsageType(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.typ.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseUsageType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    metering.UsageType
		wantErr bool
	}{
		{name: "data", in: "data", want: metering.TypeData},
		{name: "upper voice", in: "VOICE", want: metering.TypeVoice},
		{name: "mixed sms", in: "Sms", want: metering.TypeSMS},
		{name: "empty", in: "", wantErr: true},
		{name: "vendor name", in: "gprs", wantErr: true},
		{name: "padded", in: " data", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := metering.ParseUsageType(tt.in)
			if tt.wantErr {
				if !errors.Is(err, metering.ErrUnknownUsageType) {
					t.Fatalf("ParseUsageType(%q) error = %v, want ErrUnknownUsageType", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseUsageType(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
