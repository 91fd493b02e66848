package ber

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/simcore/simcore/metering"
)

func u32(v uint32) *uint32 { return &v }

var t0 = time.Date(2025, 3, 14, 10, 30, 0, 0, time.UTC)

func pgwFields() CDRFields {
	return CDRFields{
		IMSI:         "234150123456789",
		MSISDN:       "447700900123",
		IMEISV:       "3569380356438091",
		APN:          "iot.example",
		MCCMNC:       "23415",
		RATType:      6,
		OpeningTime:  t0,
		UTCOffsetMin: 60,
		Duration:     3600,
		Cause:        16,
		ChargingID:   0xF0000001,
		Gateway:      netip.MustParseAddr("10.1.2.3"),
		NodeID:       "PGW01",
		LocalSeq:     u32(777),
		RecordSeq:    u32(3),
		Traffic:      []Volume{{Up: 100, Down: 1000}, {Up: 200, Down: 1 << 40}},
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	sgw := pgwFields()
	sgw.SGW = true
	sgw.MCCMNC = "310260"
	sgw.Gateway = netip.MustParseAddr("2001:db8::1")
	sgw.Services = []Volume{{Up: 5, Down: 5}} // [34] is sGWChange in SGW-CDRs: ignored
	sgw.LocalSeq, sgw.NodeID = nil, ""
	indef := pgwFields()
	indef.Indefinite = true
	indef.Services = []Volume{{Up: 1, Down: 2}}

	want := metering.Record{
		Type: metering.TypeData, IMSI: "234150123456789", MSISDN: "447700900123",
		StartTime: t0, DurationS: 3600, BytesUp: 300, BytesDown: 1000 + 1<<40,
		MCCMNC: "23415", RAT: "EUTRAN", APN: "iot.example", NodeID: "PGW01",
		RecordID: "777", Sequence: 3, ClosingCause: 16, ChargingID: 0xF0000001, PGWAddress: "10.1.2.3",
	}
	wantSGW := want
	wantSGW.MCCMNC, wantSGW.NodeID, wantSGW.RecordID, wantSGW.PGWAddress = "310260", "2001:db8::1", "4026531841/3", "2001:db8::1"

	tests := []struct {
		name string
		f    CDRFields
		want CDR
	}{
		{"pgw", pgwFields(), CDR{Record: want, IMEISV: "3569380356438091"}},
		{"pgw indefinite lengths", indef, CDR{Record: want, IMEISV: "3569380356438091"}},
		{"sgw without local sequence", sgw, CDR{Record: wantSGW, IMEISV: "3569380356438091", SGW: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeRecord(Encode(tc.f))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestVolumesCountedOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		traffic, svc   []Volume
		wantUp, wantDn uint64
	}{
		{"both lists: traffic wins", []Volume{{10, 20}}, []Volume{{10, 20}, {1, 1}}, 10, 20},
		{"services only: summed", nil, []Volume{{10, 20}, {1, 2}}, 11, 22},
		{"empty traffic list still wins", []Volume{}, []Volume{{10, 20}}, 0, 0},
		{"neither", nil, nil, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := pgwFields()
			f.Traffic, f.Services = tc.traffic, tc.svc
			got, err := DecodeRecord(Encode(f))
			if err != nil {
				t.Fatal(err)
			}
			if got.Record.BytesUp != tc.wantUp || got.Record.BytesDown != tc.wantDn {
				t.Errorf("up/down = %d/%d, want %d/%d", got.Record.BytesUp, got.Record.BytesDown, tc.wantUp, tc.wantDn)
			}
		})
	}
}

func TestTBCD(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		header  bool
		want    string
		wantErr bool
	}{
		{"imsi 15 digits with F filler", []byte{0x32, 0x14, 0x05, 0x21, 0x43, 0x65, 0x87, 0xF9}, false, "234150123456789", false},
		{"even digits", []byte{0x21, 0x43}, false, "1234", false},
		{"msisdn with 0x91 header", []byte{0x91, 0x44, 0x77, 0x00, 0x09, 0x21, 0xF3}, true, "44770090123", false},
		{"msisdn without header", []byte{0x44, 0x77, 0x00, 0x09, 0x21, 0xF3}, true, "44770090123", false},
		{"filler in the middle", []byte{0xF1, 0x32}, false, "", true},
		{"non-digit nibble", []byte{0x1A}, false, "", true},
		{"empty", nil, false, "", true},
		{"only filler", []byte{0xFF}, false, "", true},
		{"header only", []byte{0x91}, true, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tbcd(tc.in, tc.header)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("tbcd(% x) = %q, %v; want %q, err %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestTimeStamp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		want    time.Time
		wantErr bool
	}{
		{"plus offset", []byte{0x25, 0x03, 0x14, 0x11, 0x30, 0x05, '+', 0x01, 0x00}, time.Date(2025, 3, 14, 10, 30, 5, 0, time.UTC), false},
		{"minus offset crosses midnight", []byte{0x25, 0x03, 0x14, 0x22, 0x15, 0x00, '-', 0x05, 0x30}, time.Date(2025, 3, 15, 3, 45, 0, 0, time.UTC), false},
		{"zero offset", []byte{0x24, 0x02, 0x29, 0x00, 0x00, 0x00, '+', 0x00, 0x00}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), false},
		{"plus offset crosses year", []byte{0x25, 0x01, 0x01, 0x01, 0x00, 0x00, '+', 0x05, 0x45}, time.Date(2024, 12, 31, 19, 15, 0, 0, time.UTC), false},
		{"bad sign", []byte{0x25, 0x03, 0x14, 0x11, 0x30, 0x05, 'x', 0x01, 0x00}, time.Time{}, true},
		{"non-BCD", []byte{0x25, 0x0A, 0x14, 0x11, 0x30, 0x05, '+', 0x01, 0x00}, time.Time{}, true},
		{"Feb 30", []byte{0x25, 0x02, 0x30, 0x11, 0x30, 0x05, '+', 0x01, 0x00}, time.Time{}, true},
		{"short", []byte{0x25, 0x03, 0x14, 0x11, 0x30, 0x05}, time.Time{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := timeStamp(tc.in)
			if (err != nil) != tc.wantErr || !got.Equal(tc.want) {
				t.Errorf("timeStamp = %v, %v; want %v, err %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestVendorTagsSkipped(t *testing.T) {
	t.Parallel()
	f := pgwFields()
	f.Extra = []byte{
		0x9F, 0x81, 0x48, 0x02, 0xAB, 0xCD, // context [200], primitive
		0xBF, 0x81, 0x49, 0x80, 0x80, 0x01, 0x01, 0x00, 0x00, // context [201], indefinite constructed
		0xDF, 0x20, 0x01, 0x07, // private [32]
		0x04, 0x01, 0x00, // universal OCTET STRING
	}
	f.Indefinite = true
	got, err := DecodeRecord(Encode(f))
	if err != nil {
		t.Fatal(err)
	}
	if got.Record.RecordID != "777" || got.Record.BytesDown != 1000+1<<40 {
		t.Errorf("got %+v", got.Record)
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	t.Parallel()
	good := Encode(pgwFields())
	badTime := Encode(pgwFields())
	i := bytes.Index(badTime, []byte{0x8D, 0x09})
	badTime[i+2+6] = 'x'
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"truncated", good[:len(good)-3], ErrTruncated},
		{"other record type", []byte{0xB4, 0x00}, ErrUnsupportedRecord},
		{"no gateway", Encode(CDRFields{OpeningTime: t0}), ErrMissingField},
		{"bad timestamp sign", badTime, ErrBadField},
		{"five length octets", []byte{0xBF, 0x4F, 0x85, 1, 1, 1, 1, 1}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeRecord(tc.in)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestQuantitiesAtTheirLimits: durations and volumes are INTEGERs, two's
// complement in BER. A negative one, or volumes whose sum leaves 64 bits,
// is a bad field, never a large or wrapped-around quantity.
func TestQuantitiesAtTheirLimits(t *testing.T) {
	t.Parallel()
	ff := func(n int) []byte { return bytes.Repeat([]byte{0xFF}, n) }
	prim := func(tag byte, v []byte) []byte { return append([]byte{0x80 | tag, byte(len(v))}, v...) }
	// traffic is a listOfTrafficVolumes [12] of one container whose
	// uplink [3] and downlink [4] are the raw INTEGER contents up, down.
	traffic := func(up, down []byte) []byte {
		c := append(prim(tagVolUpGPRS, up), prim(tagVolDownGPRS, down)...)
		seq := append([]byte{0x30, byte(len(c))}, c...)
		return append([]byte{0xA0 | tagTrafficVolumes, byte(len(seq))}, seq...)
	}
	tests := []struct {
		name           string
		fields         func(f *CDRFields)
		wantErr        error  // nil: decodes
		wantUp, wantDn uint64 // when it decodes
		wantDur        uint32
	}{
		{name: "largest uplink, nine octets", fields: func(f *CDRFields) { f.Traffic = []Volume{{Up: 1<<64 - 1, Down: 1 << 63}} },
			wantUp: 1<<64 - 1, wantDn: 1 << 63, wantDur: 3600},
		{name: "largest duration, five octets", fields: func(f *CDRFields) { f.Duration = 1<<32 - 1 },
			wantUp: 300, wantDn: 1<<40 + 1000, wantDur: 1<<32 - 1},
		{name: "uplinks summing past 64 bits", fields: func(f *CDRFields) { f.Traffic = []Volume{{Up: 1 << 63}, {Up: 1 << 63}} },
			wantErr: ErrBadField},
		{name: "downlinks summing past 64 bits", fields: func(f *CDRFields) { f.Services, f.Traffic = []Volume{{Down: 1<<64 - 1}, {Down: 2}}, nil },
			wantErr: ErrBadField},
		{name: "duration -1 in one octet", fields: func(f *CDRFields) { f.Extra = prim(tagDuration, ff(1)) },
			wantErr: ErrBadField},
		{name: "duration -1 in four octets", fields: func(f *CDRFields) { f.Extra = prim(tagDuration, ff(4)) },
			wantErr: ErrBadField},
		{name: "duration -128", fields: func(f *CDRFields) { f.Extra = prim(tagDuration, []byte{0x80}) },
			wantErr: ErrBadField},
		{name: "uplink -1 in one octet", fields: func(f *CDRFields) { f.Extra = traffic(ff(1), []byte{10}) },
			wantErr: ErrBadField},
		{name: "downlink -1 in eight octets", fields: func(f *CDRFields) { f.Extra = traffic([]byte{10}, ff(8)) },
			wantErr: ErrBadField},
		{name: "downlink 255 with its leading zero", fields: func(f *CDRFields) { f.Extra = traffic([]byte{10}, []byte{0, 0xFF}) },
			wantUp: 10, wantDn: 255, wantDur: 3600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := pgwFields()
			tc.fields(&f)
			got, err := DecodeRecord(Encode(f))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v (up/down %d/%d, duration %d), want %v",
						err, got.Record.BytesUp, got.Record.BytesDown, got.Record.DurationS, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r := got.Record; r.BytesUp != tc.wantUp || r.BytesDown != tc.wantDn || r.DurationS != tc.wantDur {
				t.Errorf("up/down/duration = %d/%d/%d, want %d/%d/%d", r.BytesUp, r.BytesDown, r.DurationS, tc.wantUp, tc.wantDn, tc.wantDur)
			}
		})
	}
}
