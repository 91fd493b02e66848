package metering_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/simcore/simcore/metering"
)

var testNow = time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)

const testMaxAge = 30 * 24 * time.Hour

// validRecord returns a record that passes Validate(testNow, testMaxAge).
func validRecord() metering.Record {
	return metering.Record{
		Type:       metering.TypeData,
		ICCID:      "8944100000000000018", // Luhn-valid, 19 digits
		IMSI:       "234150000000001",
		MSISDN:     "447700900001",
		StartTime:  testNow.Add(-time.Hour),
		DurationS:  60,
		BytesUp:    1000,
		BytesDown:  5000,
		MCCMNC:     "23415",
		RAT:        "EUTRAN",
		APN:        "iot.example",
		PeerNumber: "",
		NodeID:     "pgw-01",
		RecordID:   "cdr-1",
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		modify  func(r *metering.Record)
		zeroNow bool                      // validate with a zero now
		want    *metering.ValidationError // nil: valid
	}{
		{name: "valid", modify: func(r *metering.Record) {}},
		{name: "valid minimal", modify: func(r *metering.Record) {
			*r = metering.Record{Type: metering.TypeSMS, ICCID: r.ICCID, RecordID: "x", StartTime: r.StartTime}
		}},
		{name: "valid 18 digit iccid", modify: func(r *metering.Record) { r.ICCID = luhn("89441000000000001") }},
		{name: "valid 20 digit iccid", modify: func(r *metering.Record) { r.ICCID = luhn("8944100000000000001") }},
		{name: "valid 14 digit imsi", modify: func(r *metering.Record) { r.IMSI = "23415000000000" }},
		{name: "valid 6 digit mcc mnc", modify: func(r *metering.Record) { r.MCCMNC = "310260" }},
		{name: "valid short msisdn", modify: func(r *metering.Record) { r.MSISDN = "1" }},
		{name: "valid utf8 apn", modify: func(r *metering.Record) { r.APN = "café.example" }},
		{name: "valid max length ids", modify: func(r *metering.Record) {
			r.RecordID = strings.Repeat("r", 128)
			r.NodeID = strings.Repeat("n", 128)
		}},
		{name: "valid at max age", modify: func(r *metering.Record) { r.StartTime = testNow.Add(-testMaxAge) }},
		{name: "valid one hour ahead", modify: func(r *metering.Record) { r.StartTime = testNow.Add(time.Hour) }},
		{name: "zero now skips window", zeroNow: true, modify: func(r *metering.Record) {
			r.StartTime = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
		}},

		{name: "missing record id", modify: func(r *metering.Record) { r.RecordID = "" },
			want: &metering.ValidationError{Field: "record_id", Reason: "missing_record_id"}},
		{name: "record id too long", modify: func(r *metering.Record) { r.RecordID = strings.Repeat("r", 129) },
			want: &metering.ValidationError{Field: "record_id", Reason: "record_id_too_long"}},
		{name: "record id control char", modify: func(r *metering.Record) { r.RecordID = "a\tb" },
			want: &metering.ValidationError{Field: "record_id", Reason: "invalid_text"}},
		{name: "node id too long", modify: func(r *metering.Record) { r.NodeID = strings.Repeat("n", 129) },
			want: &metering.ValidationError{Field: "node_id", Reason: "node_id_too_long"}},
		{name: "node id bad utf8", modify: func(r *metering.Record) { r.NodeID = "pgw\xff" },
			want: &metering.ValidationError{Field: "node_id", Reason: "invalid_text"}},
		{name: "missing type", modify: func(r *metering.Record) { r.Type = 0 },
			want: &metering.ValidationError{Field: "type", Reason: "missing_type"}},
		{name: "type out of range", modify: func(r *metering.Record) { r.Type = 4 },
			want: &metering.ValidationError{Field: "type", Reason: "type_invalid"}},
		{name: "missing iccid", modify: func(r *metering.Record) { r.ICCID = "" },
			want: &metering.ValidationError{Field: "iccid", Reason: "missing_iccid"}},
		{name: "iccid not digits", modify: func(r *metering.Record) { r.ICCID = "894410000000000001F" },
			want: &metering.ValidationError{Field: "iccid", Reason: "iccid_not_digits"}},
		{name: "iccid too short", modify: func(r *metering.Record) { r.ICCID = luhn("8944100000000001") },
			want: &metering.ValidationError{Field: "iccid", Reason: "iccid_length"}},
		{name: "iccid too long", modify: func(r *metering.Record) { r.ICCID = luhn("89441000000000000001") },
			want: &metering.ValidationError{Field: "iccid", Reason: "iccid_length"}},
		{name: "iccid luhn", modify: func(r *metering.Record) { r.ICCID = "8944100000000000013" },
			want: &metering.ValidationError{Field: "iccid", Reason: "iccid_luhn"}},
		{name: "imsi too short", modify: func(r *metering.Record) { r.IMSI = "2341500000000" },
			want: &metering.ValidationError{Field: "imsi", Reason: "imsi_invalid"}},
		{name: "imsi too long", modify: func(r *metering.Record) { r.IMSI = "2341500000000001" },
			want: &metering.ValidationError{Field: "imsi", Reason: "imsi_invalid"}},
		{name: "imsi letters", modify: func(r *metering.Record) { r.IMSI = "23415000000000A" },
			want: &metering.ValidationError{Field: "imsi", Reason: "imsi_invalid"}},
		{name: "msisdn plus", modify: func(r *metering.Record) { r.MSISDN = "+447700900001" },
			want: &metering.ValidationError{Field: "msisdn", Reason: "msisdn_invalid"}},
		{name: "msisdn leading zero", modify: func(r *metering.Record) { r.MSISDN = "07700900001" },
			want: &metering.ValidationError{Field: "msisdn", Reason: "msisdn_invalid"}},
		{name: "msisdn too long", modify: func(r *metering.Record) { r.MSISDN = "4477009000011234" },
			want: &metering.ValidationError{Field: "msisdn", Reason: "msisdn_invalid"}},
		{name: "mcc mnc short", modify: func(r *metering.Record) { r.MCCMNC = "2341" },
			want: &metering.ValidationError{Field: "mcc_mnc", Reason: "mcc_mnc_invalid"}},
		{name: "mcc mnc dash", modify: func(r *metering.Record) { r.MCCMNC = "234-15" },
			want: &metering.ValidationError{Field: "mcc_mnc", Reason: "mcc_mnc_invalid"}},
		{name: "bytes up at the bound", modify: func(r *metering.Record) { r.BytesUp = metering.MaxRecordOctets }},
		{name: "bytes up past the bound", modify: func(r *metering.Record) { r.BytesUp = metering.MaxRecordOctets + 1 },
			want: &metering.ValidationError{Field: "bytes_up", Reason: "bytes_too_large"}},
		{name: "bytes down of a garbled gigawords", modify: func(r *metering.Record) { r.BytesDown = 1<<64 - 1 },
			want: &metering.ValidationError{Field: "bytes_down", Reason: "bytes_too_large"}},
		{name: "duration at the bound", modify: func(r *metering.Record) { r.DurationS = metering.MaxRecordDurationS }},
		{name: "duration past the bound", modify: func(r *metering.Record) { r.DurationS = metering.MaxRecordDurationS + 1 },
			want: &metering.ValidationError{Field: "duration_s", Reason: "duration_too_long"}},
		{name: "voice call of a wrapped 32-bit duration", modify: func(r *metering.Record) {
			r.Type, r.BytesUp, r.BytesDown, r.DurationS = metering.TypeVoice, 0, 0, 1<<32-1
		}, want: &metering.ValidationError{Field: "duration_s", Reason: "duration_too_long"}},
		{name: "duration of a sign-lost int32", zeroNow: true, modify: func(r *metering.Record) { r.DurationS = 1 << 31 },
			want: &metering.ValidationError{Field: "duration_s", Reason: "duration_too_long"}},
		{name: "missing start time", modify: func(r *metering.Record) { r.StartTime = time.Time{} },
			want: &metering.ValidationError{Field: "start_time", Reason: "missing_start_time"}},
		{name: "start time too old", modify: func(r *metering.Record) { r.StartTime = testNow.Add(-testMaxAge - time.Second) },
			want: &metering.ValidationError{Field: "start_time", Reason: "start_time_too_old"}},
		{name: "start time in future", modify: func(r *metering.Record) { r.StartTime = testNow.Add(time.Hour + time.Second) },
			want: &metering.ValidationError{Field: "start_time", Reason: "start_time_in_future"}},
		{name: "rat too long", modify: func(r *metering.Record) { r.RAT = strings.Repeat("x", 129) },
			want: &metering.ValidationError{Field: "rat", Reason: "rat_too_long"}},
		{name: "apn too long", modify: func(r *metering.Record) { r.APN = strings.Repeat("x", 129) },
			want: &metering.ValidationError{Field: "apn", Reason: "apn_too_long"}},
		{name: "apn newline", modify: func(r *metering.Record) { r.APN = "a\nb" },
			want: &metering.ValidationError{Field: "apn", Reason: "invalid_text"}},
		{name: "apn C1 control", modify: func(r *metering.Record) { r.APN = "a\u0085b" },
			want: &metering.ValidationError{Field: "apn", Reason: "invalid_text"}},
		{name: "peer number too long", modify: func(r *metering.Record) { r.PeerNumber = strings.Repeat("1", 129) },
			want: &metering.ValidationError{Field: "peer_number", Reason: "peer_number_too_long"}},
		{name: "peer number DEL", modify: func(r *metering.Record) { r.PeerNumber = "12\x7f" },
			want: &metering.ValidationError{Field: "peer_number", Reason: "invalid_text"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validRecord()
			tt.modify(&r)
			now := testNow
			if tt.zeroNow {
				now = time.Time{}
			}
			err := r.Validate(now, testMaxAge)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, metering.ErrInvalidRecord) {
				t.Fatalf("Validate() = %v, want an error matching ErrInvalidRecord", err)
			}
			var ve *metering.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate() = %T, want *ValidationError", err)
			}
			if diff := cmp.Diff(tt.want, ve); diff != "" {
				t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
			}
			if want := tt.want.Field + ": " + tt.want.Reason; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestValidateMaxAgeDisabled(t *testing.T) {
	t.Parallel()
	r := validRecord()
	r.StartTime = testNow.AddDate(-5, 0, 0)
	if err := r.Validate(testNow, 0); err != nil {
		t.Fatalf("Validate with maxAge 0 = %v, want nil", err)
	}
}

func TestValidateNoAlloc(t *testing.T) {
	r := validRecord()
	if n := testing.AllocsPerRun(100, func() { _ = r.Validate(testNow, testMaxAge) }); n != 0 {
		t.Fatalf("Validate allocates %v times on a valid record", n)
	}
}

// luhn appends the Luhn check digit to partial.
func luhn(partial string) string {
	return partial + string(metering.LuhnCheckDigit(partial))
}

func TestLuhn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		valid bool
	}{
		{name: "card test number", in: "4539578763621486", valid: true},
		{name: "classic", in: "79927398713", valid: true},
		{name: "classic wrong", in: "79927398710", valid: false},
		{name: "single zero", in: "0", valid: true},
		{name: "empty", in: "", valid: false},
		{name: "non digit", in: "7992739871a", valid: false},
		{name: "iccid", in: "8944100000000000018", valid: true},
		{name: "iccid transposed", in: "8944100000000000108", valid: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := metering.LuhnValid(tt.in); got != tt.valid {
				t.Errorf("LuhnValid(%q) = %v, want %v", tt.in, got, tt.valid)
			}
		})
	}
}

func TestLuhnCheckDigit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		partial string
		want    byte
	}{
		{name: "classic", partial: "7992739871", want: '3'},
		{name: "iccid", partial: "894410000000000001", want: '8'},
		{name: "empty", partial: "", want: '0'},
		{name: "non digit", partial: "12x", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := metering.LuhnCheckDigit(tt.partial); got != tt.want {
				t.Errorf("LuhnCheckDigit(%q) = %q, want %q", tt.partial, got, tt.want)
			}
		})
	}
	// Every digit string completed with its check digit is valid, and no other last digit is.
	for n := 0; n < 2000; n++ {
		p := strings.Repeat("7", n%5) + itoa(n*7919)
		d := metering.LuhnCheckDigit(p)
		for c := byte('0'); c <= '9'; c++ {
			if got := metering.LuhnValid(p + string(c)); got != (c == d) {
				t.Fatalf("LuhnValid(%q) = %v, check digit %q", p+string(c), got, d)
			}
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func BenchmarkValidate(b *testing.B) {
	r := validRecord()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Validate(testNow, testMaxAge); err != nil {
			b.Fatal(err)
		}
	}
}
