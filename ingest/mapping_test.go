package ingest

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/simcore/simcore/metering"
)

const minimalFields = `
fields:
  record_id: {column: 1}
  type: {column: 2}
  iccid: {column: 3}
  start_time: {column: 4}
`

func TestParseMappingErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		wantErr string // substring of the error
	}{
		{name: "empty document", yaml: "", wantErr: "empty document"},
		{name: "not a map", yaml: "- a\n- b\n", wantErr: "cannot unmarshal"},
		{name: "unknown top-level key", yaml: "separatr: ';'\n" + minimalFields, wantErr: "field separatr not found"},
		{name: "unknown field name", yaml: minimalFields + "  bytes_total: {column: 5}\n", wantErr: "fields.bytes_total: unknown field"},
		{name: "upper-case field name", yaml: minimalFields + "  IMSI: {column: 5}\n", wantErr: "fields.IMSI: unknown field"},
		{name: "unknown source key", yaml: minimalFields + "  imsi: {col: 5}\n", wantErr: "field col not found"},
		{name: "no fields", yaml: "header: true\n", wantErr: "fields: missing"},
		{name: "missing record_id", yaml: "fields:\n  type: {column: 2}\n  iccid: {column: 3}\n  start_time: {column: 4}\n", wantErr: "fields.record_id: required field not mapped"},
		{name: "missing start_time", yaml: "fields:\n  record_id: {column: 1}\n  type: {column: 2}\n  iccid: {column: 3}\n", wantErr: "fields.start_time: required field not mapped"},
		{name: "column and value", yaml: minimalFields + "  node_id: {column: 5, value: x}\n", wantErr: "fields.node_id: line 7: set column or value, not both"},
		{name: "neither column nor value", yaml: minimalFields + "  node_id: {}\n", wantErr: "fields.node_id: set column"},
		{name: "position zero", yaml: minimalFields + "  imsi: {column: 0}\n", wantErr: "fields.imsi.column: line 7: position 0 must be 1 to 1000"},
		{name: "negative position", yaml: minimalFields + "  imsi: {column: -2}\n", wantErr: "position -2 must be 1 to 1000"},
		{name: "column list", yaml: minimalFields + "  imsi: {column: [1, 2]}\n", wantErr: "fields.imsi.column: line 7: want a header name"},
		{name: "column name without header", yaml: minimalFields + "  imsi: {column: IMSI}\n", wantErr: `fields.imsi.column: line 7: column name "IMSI" needs header: true`},
		{name: "empty column name", yaml: "header: true\n" + minimalFields + "  imsi: {column: ' '}\n", wantErr: "empty column name"},
		{name: "bad constant number", yaml: minimalFields + "  duration_s: {value: -1}\n", wantErr: "fields.duration_s.value: line 7: bad_number"},
		{name: "bad constant type", yaml: "fields:\n  record_id: {column: 1}\n  type: {value: fax}\n  iccid: {column: 3}\n  start_time: {column: 4}\n", wantErr: "fields.type.value: line 3: bad_type"},
		{name: "separator two bytes", yaml: "separator: ';;'\n" + minimalFields, wantErr: `separator: ";;" must be exactly one byte`},
		{name: "separator empty", yaml: "separator: ''\n" + minimalFields, wantErr: "separator"},
		{name: "separator quote", yaml: "separator: '\"'\n" + minimalFields, wantErr: "cannot separate fields"},
		{name: "comment two bytes", yaml: "comment: '//'\n" + minimalFields, wantErr: `comment: "//" must be exactly one byte`},
		{name: "comment is separator", yaml: "comment: ','\n" + minimalFields, wantErr: "clashes"},
		{name: "bad layout", yaml: "time_layout: 'YYYY-MM-DD hh:mm'\n" + minimalFields, wantErr: `time_layout: "YYYY-MM-DD hh:mm" is not a Go time layout`},
		{name: "layout without time", yaml: "time_layout: '2006-01-02'\n" + minimalFields, wantErr: "time_layout"},
		{name: "layout twelve hour without PM", yaml: "time_layout: '2006-01-02 03:04'\n" + minimalFields, wantErr: "time_layout"},
		{name: "bad time zone", yaml: "time_zone: Mars/Olympus\n" + minimalFields, wantErr: "time_zone: unknown time zone Mars/Olympus"},
		{name: "type value unknown", yaml: "type_values: {GPRS: packets}\n" + minimalFields, wantErr: `type_values.GPRS: line 1: "packets" is not data, voice or sms`},
		{name: "type values not a map", yaml: "type_values: [GPRS]\n" + minimalFields, wantErr: "type_values: line 1: want a map"},
		{name: "quote not bool", yaml: "quote: maybe\n" + minimalFields, wantErr: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseMapping([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseMapping error = %v, want one containing %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidMapping) {
				t.Fatalf("ParseMapping error = %v, want ErrInvalidMapping", err)
			}
		})
	}
}

func TestParseMappingValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		yaml       string
		header     bool
		quoteAware bool
	}{
		{name: "defaults", yaml: minimalFields, quoteAware: true},
		{name: "tab separator, no quoting", yaml: "separator: \"\\t\"\nquote: false\n" + minimalFields},
		{name: "layouts", yaml: "time_layout: unix_ms\n" + minimalFields, quoteAware: true},
		{name: "layout with zone", yaml: "time_layout: '02.01.2006 15:04:05 -0700'\n" + minimalFields, quoteAware: true},
		{name: "twelve hour with PM", yaml: "time_layout: '2006-01-02 03:04 PM'\n" + minimalFields, quoteAware: true},
		{name: "header with constant type", yaml: "header: true\nfields:\n  record_id: {column: ID}\n  type: {value: data}\n  iccid: {column: 2}\n  start_time: {column: TS}\n", header: true, quoteAware: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := ParseMapping([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("ParseMapping: %v", err)
			}
			if m.HasHeader() != tt.header || m.QuoteAware() != tt.quoteAware {
				t.Fatalf("HasHeader, QuoteAware = %v, %v; want %v, %v", m.HasHeader(), m.QuoteAware(), tt.header, tt.quoteAware)
			}
		})
	}
}

func TestNewMappedParserErrors(t *testing.T) {
	t.Parallel()
	named := "header: true\nfields:\n  record_id: {column: CDR_ID}\n  type: {column: 2}\n  iccid: {column: ICCID}\n  start_time: {column: 4}\n"
	tests := []struct {
		name    string
		yaml    string
		header  []byte
		wantErr string
		target  error
	}{
		{name: "column not in header", yaml: named, header: []byte("CDR,SERVICE,ICCID,START"), wantErr: `fields.record_id.column: "CDR_ID" is not in the header (CDR,SERVICE,ICCID,START)`, target: ErrInvalidHeader},
		{name: "column twice", yaml: named, header: []byte("CDR_ID,SERVICE,ICCID,START,cdr_id"), wantErr: `"CDR_ID" appears twice`, target: ErrInvalidHeader},
		{name: "position beyond header", yaml: named, header: []byte("CDR_ID,ICCID,START"), wantErr: "fields.start_time.column: position 4 is beyond the header's 3 columns", target: ErrInvalidHeader},
		{name: "empty header", yaml: named, header: []byte(""), wantErr: "empty", target: ErrInvalidHeader},
		{name: "header missing", yaml: named, header: nil, wantErr: "no header line", target: ErrInvalidMapping},
		{name: "header unexpected", yaml: minimalFields, header: []byte("a,b,c,d"), wantErr: "header: false", target: ErrInvalidMapping},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := ParseMapping([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("ParseMapping: %v", err)
			}
			_, err = NewMappedParser(m, tt.header, ingestTestCfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, tt.target) {
				t.Fatalf("NewMappedParser error = %v, want %v containing %q", err, tt.target, tt.wantErr)
			}
		})
	}
}

func TestLoadMappingMissingFile(t *testing.T) {
	t.Parallel()
	_, err := LoadMapping("testdata/no_such_mapping.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadMapping = %v, want fs.ErrNotExist", err)
	}
}

// parseMapped reads a feed the way the pipeline does.
func parseMapped(t *testing.T, m *Mapping, input io.Reader, size int) []Item {
	t.Helper()
	s := NewSplitter(input, size, m.QuoteAware())
	var header []byte
	if m.HasHeader() {
		var err error
		if header, err = s.ReadHeaderLine(); err != nil {
			t.Fatalf("ReadHeaderLine: %v", err)
		}
	}
	p, err := NewMappedParser(m, header, ingestTestCfg)
	if err != nil {
		t.Fatalf("NewMappedParser: %v", err)
	}
	var items []Item
	for {
		c, err := s.Next()
		if errors.Is(err, io.EOF) {
			return items
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		items = p.Parse(c, items)
	}
}

func TestVendorExample(t *testing.T) {
	t.Parallel()
	m, err := LoadMapping("testdata/vendor_mapping.yaml")
	if err != nil {
		t.Fatalf("LoadMapping: %v", err)
	}
	want := []wantItem{
		{Line: 3, Record: metering.Record{
			Type: metering.TypeData, ICCID: "8949102000000012341", IMSI: "262021234567890", MSISDN: "4915112345678",
			StartTime: ts("2024-03-05T09:15:00Z"), DurationS: 120, BytesUp: 1024, BytesDown: 20480,
			MCCMNC: "26202", APN: "internet", NodeID: "vendorX", RecordID: "V0001",
		}},
		{Line: 4, Record: metering.Record{
			Type: metering.TypeVoice, ICCID: "8949102000000056785", IMSI: "262021234567891", MSISDN: "4915112345679",
			PeerNumber: "4930123456", StartTime: ts("2024-03-05T09:16:30Z"), DurationS: 45,
			MCCMNC: "26202", NodeID: "vendorX", RecordID: "V0002",
		}},
		{Line: 5, Record: metering.Record{
			Type: metering.TypeSMS, ICCID: "8949102000000090123", MSISDN: "4915112345680", PeerNumber: "4915198765432",
			StartTime: ts("2024-03-05T09:17:00Z"), MCCMNC: "26202", NodeID: "vendorX", RecordID: "V0003",
		}},
		{Line: 8, Reason: "iccid_luhn"},
		{Line: 9, Reason: "bad_type"},
		{Line: 10, Record: metering.Record{
			Type: metering.TypeVoice, ICCID: "8949102000000034568", IMSI: "262021234567892", MSISDN: "4915112345681",
			PeerNumber: "4930123456", StartTime: ts("2024-03-05T09:20:00Z"), DurationS: 30,
			MCCMNC: "26202", NodeID: "vendorX", RecordID: "V0006",
		}},
		{Line: 11, Reason: "csv_field_count"},
	}
	data, err := os.ReadFile("testdata/vendor_export.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 16, 1 << 20} {
		items := parseMapped(t, m, strings.NewReader(string(data)), size)
		if diff := cmp.Diff(want, summarize(items), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("size %d: items mismatch (-want +got):\n%s", size, diff)
		}
	}
}

func TestMappedHeaderless(t *testing.T) {
	t.Parallel()
	m, err := ParseMapping([]byte(`
separator: "|"
quote: false
time_layout: unix
type_values: {"1": data, "2": voice}
fields:
  record_id: {column: 1}
  type: {column: 2}
  iccid: {column: 3}
  start_time: {column: 4}
  bytes_down: {column: 6}
  node_id: {value: "nas-7"}
  closing_cause: {value: 4}
`))
	if err != nil {
		t.Fatalf("ParseMapping: %v", err)
	}
	input := "\ufeffa1|1|" + testICCID + "|1709632800|ignored|77|extra|\"q\n" +
		"a2|2|" + testICCID + "|1709632800\n" + // too few fields for column 6
		"a3|3|" + testICCID + "|1709632800|x|1\n" + // type 3 is not in type_values nor a type name
		"a4|sms|" + testICCID + "|17096328OO|x|1\n"
	items := parseMapped(t, m, strings.NewReader(input), 5)
	want := []wantItem{
		{Line: 1, Record: metering.Record{Type: metering.TypeData, ICCID: testICCID, StartTime: ts("2024-03-05T10:00:00Z"),
			BytesDown: 77, NodeID: "nas-7", RecordID: "a1", ClosingCause: 4}},
		{Line: 2, Reason: "csv_field_count"},
		{Line: 3, Reason: "bad_type"},
		{Line: 4, Reason: "bad_start_time"},
	}
	if diff := cmp.Diff(want, summarize(items), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("items mismatch (-want +got):\n%s", diff)
	}
}

func TestMappedUnixMillis(t *testing.T) {
	t.Parallel()
	m, err := ParseMapping([]byte("time_layout: unix_ms\n" + minimalFields))
	if err != nil {
		t.Fatal(err)
	}
	items := parseMapped(t, m, strings.NewReader("r1,data,"+testICCID+",1709632800250\n"), 0)
	if len(items) != 1 || items[0].Reason != "" || !items[0].Record.StartTime.Equal(ts("2024-03-05T10:00:00.25Z")) {
		t.Fatalf("items = %+v", items)
	}
}
