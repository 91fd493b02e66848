package ingest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/simcore/simcore/metering"
)

func TestNDJSONParse(t *testing.T) {
	t.Parallel()
	full := metering.Record{
		Type: metering.TypeData, ICCID: testICCID, IMSI: "234150000000001", MSISDN: "447700900001",
		StartTime: ts("2024-03-05T09:00:00Z"), DurationS: 60, BytesUp: 100, BytesDown: 18446744073709551615,
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
				`"bytes_down":18446744073709551615,"mcc_mnc":"310260","rat":"NR","apn":"iot","peer_number":"+15551234567",` +
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
