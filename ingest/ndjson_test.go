package ingest

import (
	"bytes"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/simcore/simcore/metering"
)

func TestNDJSONParse(t *testing.T) {
	t.Parallel()
	full := metering.Record{
		Type: metering.TypeData, ICCID: testICCID, IMSI: "234150000000001", MSISDN: "447700900001",
		StartTime: ts("2024-03-05T09:00:00Z"), DurationS: 60, BytesUp: 100, BytesDown: metering.MaxRecordOctets,
		MCCMNC: "310260", RAT: "NR", APN: "iot", PeerNumber: "15551234567", NodeID: "pgw-1", RecordID: "r1",
		Sequence: 2, ClosingCause: 19,
	}
	minimal := metering.Record{Type: metering.TypeSMS, ICCID: testICCID, StartTime: ts("2024-03-05T10:00:00Z"), RecordID: "r2"}
	tests := []struct {
		name  string
		input string
		want  []wantItem
	}{
		{
			name: "all fields, numbers as numbers and strings",
			input: `{"record_id":"r1","node_id":"pgw-1","type":"data","iccid":"` + testICCID + `","imsi":234150000000001,` +
				`"msisdn":"+447700900001","start_time":"2024-03-05T10:00:00+01:00","duration_s":60,"bytes_up":"100",` +
				`"bytes_down":1125899906842624,"mcc_mnc":"310260","rat":"NR","apn":"iot","peer_number":"+15551234567",` +
				`"sequence":2,"closing_cause":"19","unknown":{"nested":[1,2]}}` + "\n",
			want: []wantItem{{Line: 1, Record: full}},
		},
		{
			name:  "nulls, escapes, CRLF and blank lines",
			input: "\n" + `{"record_id":"r\u0032","type":"SMS","iccid":"` + testICCID + `","start_time":"2024-03-05T10:00:00Z","imsi":null}` + "\r\n\n",
			want:  []wantItem{{Line: 2, Record: minimal}},
		},
		{
			name:  "BOM at start of source",
			input: "\ufeff" + `{"record_id":"r2","type":"sms","iccid":"` + testICCID + `","start_time":"2024-03-05T10:00:00Z"}`,
			want:  []wantItem{{Line: 1, Record: minimal}},
		},
		{
			name: "errors",
			input: `{"record_id":"r1",` + "\n" +
				`[1,2]` + "\n" +
				`{"record_id":true}` + "\n" +
				`{"record_id":"r1","type":"data","iccid":"` + testICCID + `","start_time":"2024-03-05T10:00:00Z","bytes_up":-1}` + "\n" +
				`{"record_id":"r1","type":"data","iccid":"` + testICCID + `","start_time":"2024-03-05T10:00:00Z","bytes_up":1.5}` + "\n" +
				`{"record_id":"r1","type":"data","iccid":"` + testICCID + `","start_time":1709632800}` + "\n" +
				`{"record_id":"r1","type":"fax","iccid":"` + testICCID + `","start_time":"2024-03-05T10:00:00Z"}` + "\n" +
				`{"record_id":"r1","type":"data","iccid":"` + testBadICCID + `","start_time":"2024-03-05T10:00:00Z"}` + "\n" +
				`{"type":"data"}` + "\n" +
				`null` + "\n" +
				`{"record_id":"r1"} trailing` + "\n",
			want: []wantItem{
				{Line: 1, Reason: "json_syntax"}, {Line: 2, Reason: "json_type"}, {Line: 3, Reason: "json_type"},
				{Line: 4, Reason: "bad_number"}, {Line: 5, Reason: "bad_number"}, {Line: 6, Reason: "bad_start_time"},
				{Line: 7, Reason: "bad_type"}, {Line: 8, Reason: "iccid_luhn"}, {Line: 9, Reason: "missing_record_id"},
				{Line: 10, Reason: "missing_record_id"}, {Line: 11, Reason: "json_syntax"},
			},
		},
	}
	p, err := NewNDJSONParser(ingestTestCfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, size := range []int{1, 1 << 20} {
				items := parseInput(t, p, tt.input, size, false)
				for _, it := range items {
					if it.Reason != "" && it.Detail == "" {
						t.Errorf("line %d: reason %s without detail", it.Line, it.Reason)
					}
				}
				if diff := cmp.Diff(tt.want, summarize(items), cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("size %d: items mismatch (-want +got):\n%s", size, diff)
				}
			}
		})
	}
}

func TestNDJSONRawAndOffset(t *testing.T) {
	t.Parallel()
	p, err := NewNDJSONParser(ingestTestCfg)
	if err != nil {
		t.Fatal(err)
	}
	first := `{"record_id":"a"}`
	second := `{"record_id":"b","type":"data","iccid":"` + testICCID + `","start_time":"2024-03-05T10:00:00Z"}`
	items := parseInput(t, p, first+"\r\n"+second+"\n", 0, false)
	if len(items) != 2 {
		t.Fatalf("got %d items", len(items))
	}
	if string(items[1].Raw) != second || items[1].Offset != int64(len(first)+2) || items[1].Line != 2 {
		t.Fatalf("second item: Raw %q, Offset %d, Line %d", items[1].Raw, items[1].Offset, items[1].Line)
	}
	if items[0].Reason != "missing_type" || items[0].Detail != "type: missing_type" {
		t.Fatalf("first item: %q %q", items[0].Reason, items[0].Detail)
	}
}

// TestAppendNDJSONRoundTrip writes records with every field set, and with
// the fewest, and checks that the NDJSON parser gives them back exactly:
// the write-ahead log depends on it.
func TestAppendNDJSONRoundTrip(t *testing.T) {
	t.Parallel()
	full := metering.Record{
		Type: metering.TypeData, ICCID: testICCID, IMSI: "234150000000001", MSISDN: "447700900001",
		StartTime: time.Date(2024, 3, 5, 9, 0, 1, 250_000_000, time.UTC), DurationS: 4294967295,
		BytesUp: 18446744073709551615, BytesDown: 1 << 40, MCCMNC: "310260", RAT: "EUTRAN-NB-IoT",
		APN: "iot.example", PeerNumber: "15551234567", NodeID: `pgw "radius" \ 1`,
		RecordID: "0cc175b9c0f1b6a831c399e269772661/t60i1000o5000", Sequence: 7, ClosingCause: 17,
		ChargingID: 4294967295, PGWAddress: "2001:db8::9",
	}
	minimal := metering.Record{Type: metering.TypeSMS, ICCID: testICCID, StartTime: ts("2024-03-05T10:00:00Z"), RecordID: "r2"}
	imsiOnly := metering.Record{Type: metering.TypeData, IMSI: "234150000000001", StartTime: ts("2024-03-05T10:00:00Z"),
		NodeID: "10.0.0.1", RecordID: "x/t0i0o0", ChargingID: 1, PGWAddress: "10.0.0.9", Sequence: 1}
	unicode := minimal
	unicode.NodeID, unicode.APN = "nœud-é\u2028\t", "ünï"
	tests := []struct {
		name string
		rec  metering.Record
	}{
		{"every field", full},
		{"fewest fields", minimal},
		{"IMSI without ICCID, as RADIUS writes it", imsiOnly},
		{"non-ASCII and control characters", unicode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			line := AppendNDJSON(nil, &tt.rec)
			if n := bytes.Count(line, []byte("\n")); n != 1 || line[len(line)-1] != '\n' {
				t.Fatalf("line %q: want exactly one trailing newline", line)
			}
			rec, reason, detail := decodeNDJSON(line[:len(line)-1])
			if reason != "" {
				t.Fatalf("decode %s: %s (%s)", line, reason, detail)
			}
			if diff := cmp.Diff(tt.rec, rec); diff != "" {
				t.Errorf("round trip of %s (-want +got):\n%s", line, diff)
			}
			// The log's fast path reads the same, or leaves the line to
			// decodeNDJSON (escapes, non-ASCII).
			if fast, ok := decodeFlatNDJSON(line[:len(line)-1]); ok {
				if diff := cmp.Diff(tt.rec, fast); diff != "" {
					t.Errorf("fast path on %s (-want +got):\n%s", line, diff)
				}
			} else if !bytes.ContainsRune(line, '\\') && utf8.RuneCount(line) == len(line) {
				t.Errorf("fast path refused %s, which has no escapes", line)
			}
		})
	}
}

// TestDecodeFlatNDJSONRefuses: lines the fast path cannot read exactly are
// left to the full decoder, never misread.
func TestDecodeFlatNDJSONRefuses(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		``, `{}x`, `{"record_id":"a"`, `{"record_id":"a\u0062"}`, `{"record_id":"a",}`,
		`{"record_id":"a","extra":1}`, `{"record_id":null}`, `{"bytes_up":-1}`, `{"bytes_up":1.5}`,
		`{"type":"fax"}`, `{"start_time":"yesterday"}`, `{"record_id":"a"} `, `{"Record_ID":"a"}`,
		` {"record_id":"a"}`, `{"record_id":"a" ,"type":"data"}`, `{"bytes_up":"5"}x`,
	} {
		if rec, ok := decodeFlatNDJSON([]byte(line)); ok {
			t.Errorf("decodeFlatNDJSON(%q) = %+v, true; want false", line, rec)
		}
	}
	rec, ok := decodeFlatNDJSON([]byte(`{"record_id":"a","bytes_up":"5","sequence":3}`))
	if !ok || rec.RecordID != "a" || rec.BytesUp != 5 || rec.Sequence != 3 {
		t.Errorf("plain line: %+v, %v", rec, ok)
	}
}

// FuzzDecodeFlatNDJSON: whatever the line, the write-ahead log's fast path
// either refuses it or reads exactly what the full decoder reads.
func FuzzDecodeFlatNDJSON(f *testing.F) {
	r := metering.Record{
		Type: metering.TypeData, IMSI: "234150000000001", StartTime: ts("2024-03-05T10:00:00Z"), DurationS: 60,
		BytesUp: 1, BytesDown: 2, NodeID: "10.0.0.1", RecordID: "x/t60i1o2", Sequence: 1, ClosingCause: 17,
		ChargingID: 9, PGWAddress: "10.0.0.9",
	}
	f.Add(bytes.TrimSuffix(AppendNDJSON(nil, &r), []byte("\n")))
	f.Add([]byte(`{"record_id":"a","bytes_up":"5","type":"SMS"}`))
	f.Add([]byte(`{"record_id":"a","record_id":"b"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		fast, ok := decodeFlatNDJSON(line)
		if !ok {
			return
		}
		full, reason, detail := decodeNDJSON(line)
		if reason != "" {
			t.Fatalf("fast path read %q as %+v; the full decoder refuses it: %s %s", line, fast, reason, detail)
		}
		if diff := cmp.Diff(full, fast); diff != "" {
			t.Fatalf("%q (-full +fast):\n%s", line, diff)
		}
	})
}
