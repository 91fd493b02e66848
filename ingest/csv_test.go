package ingest

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/simcore/simcore/metering"
)

var (
	ingestTestNow = time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	ingestTestCfg = ParserConfig{Now: ingestTestNow, MaxAge: 90 * 24 * time.Hour}
)

const (
	testICCID    = "8944100000000000018" // Luhn-valid
	testBadICCID = "8944100000000000013"
	testHeader   = "record_id,node_id,type,iccid,imsi,msisdn,start_time,duration_s,bytes_up,bytes_down,mcc_mnc,rat"
)

// parseInput splits input after a header line with the given chunk size
// and parses every chunk with p.
func parseInput(t testing.TB, p Parser, input string, size int, quoteAware bool) []Item {
	t.Helper()
	s := NewSplitter(strings.NewReader(input), size, quoteAware)
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

// parseCSV parses header+"\n"+body as canonical CSV in one chunk per size.
func parseCSV(t testing.TB, header, body string, size int) []Item {
	t.Helper()
	s := NewSplitter(strings.NewReader(header+"\n"+body), size, true)
	h, err := s.ReadHeaderLine()
	if err != nil {
		t.Fatalf("ReadHeaderLine: %v", err)
	}
	p, err := NewCSVParser(h, ingestTestCfg)
	if err != nil {
		t.Fatalf("NewCSVParser: %v", err)
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

// wantItem is what the CSV tests compare: Raw and Detail are checked separately.
type wantItem struct {
	Line   int64
	Reason string
	Record metering.Record
}

func summarize(items []Item) []wantItem {
	out := make([]wantItem, len(items))
	for i, it := range items {
		out[i] = wantItem{Line: it.Line, Reason: it.Reason}
		if it.Reason == "" {
			out[i].Record = it.Record
		}
	}
	return out
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestNewCSVParserHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		header  string
		wantErr string // substring; "" means no error
	}{
		{name: "canonical", header: testHeader},
		{name: "required only any order", header: "start_time,iccid,type,record_id"},
		{name: "case and spaces", header: " Record_ID , TYPE,Iccid ,start_time\r"},
		{name: "unknown columns ignored", header: "x,record_id,type,iccid,start_time,y"},
		{name: "quoted names", header: `"record_id","type","iccid","start_time"`},
		{name: "BOM", header: "\ufeffrecord_id,type,iccid,start_time"},
		{name: "missing iccid", header: "record_id,type,start_time", wantErr: `missing required column "iccid"`},
		{name: "missing record_id", header: "type,iccid,start_time", wantErr: `missing required column "record_id"`},
		{name: "missing start_time", header: "record_id,type,iccid", wantErr: `missing required column "start_time"`},
		{name: "missing type", header: "record_id,iccid,start_time", wantErr: `missing required column "type"`},
		{name: "duplicate", header: "record_id,type,iccid,start_time,ICCID", wantErr: `column "iccid" appears twice`},
		{name: "empty", header: "", wantErr: "empty"},
		{name: "bad quote", header: `"record_id,type`, wantErr: "quoted field not closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewCSVParser([]byte(tt.header), ingestTestCfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewCSVParser(%q) = %v", tt.header, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidHeader) {
				t.Fatalf("NewCSVParser(%q) = %v, want ErrInvalidHeader with %q", tt.header, err, tt.wantErr)
			}
		})
	}
}

func TestCSVParse(t *testing.T) {
	t.Parallel()
	base := metering.Record{
		Type: metering.TypeData, ICCID: testICCID, IMSI: "234150000000001", MSISDN: "447700900001",
		StartTime: ts("2024-03-05T10:00:00Z"), DurationS: 60, BytesUp: 100, BytesDown: 200,
		MCCMNC: "23415", RAT: "EUTRAN", NodeID: "pgw-1", RecordID: "r1",
	}
	with := func(f func(r *metering.Record)) metering.Record {
		r := base
		f(&r)
		return r
	}
	const line = "r1,pgw-1,data," + testICCID + ",234150000000001,447700900001,2024-03-05T10:00:00Z,60,100,200,23415,EUTRAN"
	tests := []struct {
		name   string
		header string
		body   string
		want   []wantItem
	}{
		{
			name: "canonical", header: testHeader, body: line + "\n",
			want: []wantItem{{Line: 2, Record: base}},
		},
		{
			name: "no final newline", header: testHeader, body: line,
			want: []wantItem{{Line: 2, Record: base}},
		},
		{
			name:   "different column order and unknown columns",
			header: "rat,extra,iccid,record_id,start_time,type,node_id,bytes_down,bytes_up,duration_s,mcc_mnc,msisdn,imsi",
			body:   "EUTRAN,whatever," + testICCID + ",r1,2024-03-05T10:00:00Z,DATA,pgw-1,200,100,60,23415,+447700900001,234150000000001\n",
			want:   []wantItem{{Line: 2, Record: base}},
		},
		{
			name: "CRLF", header: testHeader + "\r", body: line + "\r\n" + strings.Replace(line, "r1", "r2", 1) + "\r\n",
			want: []wantItem{{Line: 2, Record: base}, {Line: 3, Record: with(func(r *metering.Record) { r.RecordID = "r2" })}},
		},
		{
			name: "blank lines skipped", header: testHeader, body: "\n" + line + "\n\r\n  \n" + line + "\n",
			want: []wantItem{{Line: 3, Record: base}, {Line: 6, Record: base}},
		},
		{
			name:   "quoted fields with comma, doubled quote and newline",
			header: "record_id,type,iccid,start_time,apn,note",
			body:   `"r,1",data,"` + testICCID + `",2024-03-05T10:00:00Z,"say ""hi""","multi` + "\n" + `line"` + "\nr2,sms," + testICCID + ",2024-03-05T10:00:00Z,,\n",
			want: []wantItem{
				{Line: 2, Record: metering.Record{Type: metering.TypeData, ICCID: testICCID, StartTime: base.StartTime, RecordID: "r,1", APN: `say "hi"`}},
				{Line: 4, Record: metering.Record{Type: metering.TypeSMS, ICCID: testICCID, StartTime: base.StartTime, RecordID: "r2"}},
			},
		},
		{
			name:   "quoted empty and trailing quoted field",
			header: "record_id,type,iccid,start_time,apn",
			body:   `r1,data,` + testICCID + `,2024-03-05T10:00:00Z,""` + "\n" + `r2,data,` + testICCID + `,2024-03-05T10:00:00Z,"x"` + "\r\n",
			want: []wantItem{
				{Line: 2, Record: metering.Record{Type: metering.TypeData, ICCID: testICCID, StartTime: base.StartTime, RecordID: "r1"}},
				{Line: 3, Record: metering.Record{Type: metering.TypeData, ICCID: testICCID, StartTime: base.StartTime, RecordID: "r2", APN: "x"}},
			},
		},
		{
			name: "time offset converted to UTC", header: "record_id,type,iccid,start_time",
			body: "r1,voice," + testICCID + ",2024-03-05T12:30:00.25+02:00\n",
			want: []wantItem{{Line: 2, Record: metering.Record{Type: metering.TypeVoice, ICCID: testICCID, StartTime: ts("2024-03-05T10:30:00.25Z"), RecordID: "r1"}}},
		},
		{
			name: "plus stripped from peer", header: "record_id,type,iccid,start_time,peer_number,msisdn",
			body: "r1,sms," + testICCID + ",2024-03-05T10:00:00Z,+15551234567,+447700900001\n",
			want: []wantItem{{Line: 2, Record: metering.Record{Type: metering.TypeSMS, ICCID: testICCID, StartTime: base.StartTime, RecordID: "r1", PeerNumber: "15551234567", MSISDN: "447700900001"}}},
		},
		{
			name: "numbers at their limits", header: "record_id,type,iccid,start_time,duration_s,bytes_up,bytes_down,sequence,closing_cause",
			body: "r1,data," + testICCID + ",2024-03-05T10:00:00Z,31622400,1125899906842624,0,4294967295,255\n" +
				// parsed, then over metering.MaxRecordOctets
				"r2,data," + testICCID + ",2024-03-05T10:00:00Z,0,18446744073709551615,0,0,0\n" +
				// parsed, then over metering.MaxRecordDurationS: not a 136-year call
				"r3,voice," + testICCID + ",2024-03-05T10:00:00Z,4294967295,0,0,0,0\n",
			want: []wantItem{{Line: 2, Record: metering.Record{Type: metering.TypeData, ICCID: testICCID, StartTime: base.StartTime, RecordID: "r1",
				DurationS: metering.MaxRecordDurationS, BytesUp: metering.MaxRecordOctets, Sequence: 1<<32 - 1, ClosingCause: 255}},
				{Line: 3, Reason: "bytes_too_large"}, {Line: 4, Reason: "duration_too_long"}},
		},
		{
			name: "field count", header: testHeader,
			body: "r1,pgw-1,data\n" + line + ",extra\n" + line + "\n",
			want: []wantItem{{Line: 2, Reason: "csv_field_count"}, {Line: 3, Reason: "csv_field_count"}, {Line: 4, Record: base}},
		},
		{
			name: "bad numbers", header: "record_id,type,iccid,start_time,duration_s,bytes_up,closing_cause,sequence",
			body: "r1,data," + testICCID + ",2024-03-05T10:00:00Z,-1,,,\n" +
				"r2,data," + testICCID + ",2024-03-05T10:00:00Z,,12x,,\n" +
				"r3,data," + testICCID + ",2024-03-05T10:00:00Z,,,256,\n" +
				"r4,data," + testICCID + ",2024-03-05T10:00:00Z,4294967296,,,\n" +
				"r5,data," + testICCID + ",2024-03-05T10:00:00Z,,1.5,,\n" +
				"r6,data," + testICCID + ",2024-03-05T10:00:00Z,,18446744073709551616,,\n" +
				"r7,data," + testICCID + ",2024-03-05T10:00:00Z,,,,+1\n",
			want: []wantItem{
				{Line: 2, Reason: "bad_number"}, {Line: 3, Reason: "bad_number"}, {Line: 4, Reason: "bad_number"},
				{Line: 5, Reason: "bad_number"}, {Line: 6, Reason: "bad_number"}, {Line: 7, Reason: "bad_number"},
				{Line: 8, Reason: "bad_number"},
			},
		},
		{
			name: "bad time and type", header: "record_id,type,iccid,start_time",
			body: "r1,data," + testICCID + ",2024-02-30T10:00:00Z\n" +
				"r2,data," + testICCID + ",2024-03-05 10:00\n" +
				"r3,gprs," + testICCID + ",2024-03-05T10:00:00Z\n" +
				"r4,," + testICCID + ",2024-03-05T10:00:00Z\n" +
				"r5,data," + testICCID + ",\n",
			want: []wantItem{
				{Line: 2, Reason: "bad_start_time"}, {Line: 3, Reason: "bad_start_time"}, {Line: 4, Reason: "bad_type"},
				{Line: 5, Reason: "missing_type"}, {Line: 6, Reason: "missing_start_time"},
			},
		},
		{
			name: "validation reasons", header: "record_id,type,iccid,start_time,imsi,msisdn,mcc_mnc",
			body: ",data," + testICCID + ",2024-03-05T10:00:00Z,,,\n" +
				"r2,data," + testBadICCID + ",2024-03-05T10:00:00Z,,,\n" +
				"r3,data,89441X0000000000018,2024-03-05T10:00:00Z,,,\n" +
				"r4,data,12345,2024-03-05T10:00:00Z,,,\n" +
				"r5,data,,2024-03-05T10:00:00Z,,,\n" +
				"r6,data," + testICCID + ",2024-03-05T10:00:00Z,123,,\n" +
				"r7,data," + testICCID + ",2024-03-05T10:00:00Z,,0447,\n" +
				"r8,data," + testICCID + ",2024-03-05T10:00:00Z,,,2341\n" +
				"r9,data," + testICCID + ",2023-01-01T00:00:00Z,,,\n" +
				"r10,data," + testICCID + ",2024-03-05T13:00:01Z,,,\n",
			want: []wantItem{
				{Line: 2, Reason: "missing_record_id"}, {Line: 3, Reason: "iccid_luhn"}, {Line: 4, Reason: "iccid_not_digits"},
				{Line: 5, Reason: "iccid_length"}, {Line: 6, Reason: "missing_iccid"}, {Line: 7, Reason: "imsi_invalid"},
				{Line: 8, Reason: "msisdn_invalid"}, {Line: 9, Reason: "mcc_mnc_invalid"}, {Line: 10, Reason: "start_time_too_old"},
				{Line: 11, Reason: "start_time_in_future"},
			},
		},
		{
			name: "quote errors", header: "record_id,type,iccid,start_time",
			body: `r1,d"at"a,` + testICCID + `,2024-03-05T10:00:00Z` + "\n" + // bare quotes, even count: one line
				`"r2"x,data,` + testICCID + `,2024-03-05T10:00:00Z` + "\n" +
				`r3,data,` + testICCID + `,"2024-03-05T10:00:00Z` + "\n" + "r4\n", // never closed: runs to the end
			want: []wantItem{{Line: 2, Reason: "csv_quote"}, {Line: 3, Reason: "csv_quote"}, {Line: 4, Reason: "csv_quote"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, size := range []int{1, 7, 1 << 20} {
				got := summarize(parseCSV(t, tt.header, tt.body, size))
				if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("size %d: items mismatch (-want +got):\n%s", size, diff)
				}
			}
		})
	}
}

func TestCSVParseItemFields(t *testing.T) {
	t.Parallel()
	header := "record_id,type,iccid,start_time,bytes_up"
	body := "r1,data," + testICCID + ",2024-03-05T10:00:00Z,-5\r\n" +
		`"r,2",data,` + testICCID + ",2024-03-05T10:00:00Z,5\n"
	items := parseCSV(t, header, body, 1<<20)
	if len(items) != 2 {
		t.Fatalf("got %d items, want 2", len(items))
	}
	first := items[0]
	if want := "r1,data," + testICCID + ",2024-03-05T10:00:00Z,-5"; string(first.Raw) != want {
		t.Errorf("Raw = %q, want %q", first.Raw, want)
	}
	if first.Offset != int64(len(header)+1) {
		t.Errorf("Offset = %d, want %d", first.Offset, len(header)+1)
	}
	if first.Reason != "bad_number" || !strings.Contains(first.Detail, "bytes_up") || !strings.Contains(first.Detail, `"-5"`) {
		t.Errorf("Reason, Detail = %q, %q; want bad_number naming bytes_up and the value", first.Reason, first.Detail)
	}
	second := items[1]
	if second.Offset != int64(len(header)+1+len(first.Raw)+2) || second.Line != 3 {
		t.Errorf("second item at line %d offset %d", second.Line, second.Offset)
	}
	if second.Reason != "" || second.Record.RecordID != "r,2" {
		t.Errorf("second item = %+v", second)
	}
}

func TestCSVParseValidationDetail(t *testing.T) {
	t.Parallel()
	items := parseCSV(t, "record_id,type,iccid,start_time", "r1,data,"+testBadICCID+",2024-03-05T10:00:00Z\n", 0)
	if len(items) != 1 || items[0].Reason != "iccid_luhn" || items[0].Detail != "iccid: iccid_luhn" {
		t.Fatalf("items = %+v", items)
	}
}

func TestCSVParseZeroNowUsesClock(t *testing.T) {
	t.Parallel()
	p, err := NewCSVParser([]byte("record_id,type,iccid,start_time"), ParserConfig{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	recent := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	items := p.Parse(Chunk{Data: []byte("r1,data," + testICCID + "," + recent + "\nr2,data," + testICCID + ",2020-01-01T00:00:00Z\n"), FirstLine: 2, Offset: 40}, nil)
	if got := summarize(items); got[0].Reason != "" || got[1].Reason != "start_time_too_old" {
		t.Fatalf("items = %+v", got)
	}
}

func TestParseRFC3339(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		ok   bool // parseRFC3339 takes it; otherwise time.Parse decides
	}{
		{name: "Z", in: "2024-03-05T10:00:00Z", ok: true},
		{name: "lower z and t", in: "2024-03-05t10:00:00z", ok: true},
		{name: "space", in: "2024-03-05 10:00:00Z", ok: true},
		{name: "offset", in: "2024-03-05T10:00:00+05:30", ok: true},
		{name: "negative offset", in: "2024-03-05T23:59:59-08:00", ok: true},
		{name: "fraction", in: "2024-03-05T10:00:00.123456789Z", ok: true},
		{name: "short fraction", in: "2024-03-05T10:00:00.5+01:00", ok: true},
		{name: "leap day", in: "2024-02-29T00:00:00Z", ok: true},
		{name: "no leap day", in: "2023-02-29T00:00:00Z"},
		{name: "century no leap", in: "1900-02-29T00:00:00Z"},
		{name: "400 leap", in: "2000-02-29T00:00:00Z", ok: true},
		{name: "month 13", in: "2024-13-01T00:00:00Z"},
		{name: "hour 24", in: "2024-03-05T24:00:00Z"},
		{name: "second 60", in: "2024-03-05T23:59:60Z"},
		{name: "no zone", in: "2024-03-05T10:00:00"},
		{name: "ten fraction digits", in: "2024-03-05T10:00:00.1234567891Z"},
		{name: "empty fraction", in: "2024-03-05T10:00:00.Z"},
		{name: "compact offset", in: "2024-03-05T10:00:00+0530"},
		{name: "garbage", in: "yesterday"},
		{name: "sign in year", in: "+024-03-05T10:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseRFC3339(tt.in)
			if ok != tt.ok {
				t.Fatalf("parseRFC3339(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
			// Whatever the fast path accepts, time.Parse agrees with.
			want, err := time.Parse(time.RFC3339Nano, strings.NewReplacer("t", "T", "z", "Z", " ", "T").Replace(tt.in))
			if ok && (err != nil || !got.Equal(want) || got.Location() != time.UTC) {
				t.Fatalf("parseRFC3339(%q) = %v, time.Parse = %v, %v", tt.in, got, want, err)
			}
		})
	}
}

func TestParseRFC3339MatchesTimeParse(t *testing.T) {
	t.Parallel()
	r := rng{s: 42}
	for i := 0; i < 20000; i++ {
		sec := int64(r.intn(1<<40)) - 1<<39
		off := (r.intn(48*60) - 24*60) * 60
		tm := time.Unix(sec, int64(r.intn(1e9))).In(time.FixedZone("", off))
		s := tm.Format(time.RFC3339Nano)
		want, err := time.Parse(time.RFC3339Nano, s)
		got, ok := parseRFC3339(s)
		if err != nil {
			if ok {
				t.Fatalf("parseRFC3339(%q) accepted what time.Parse rejects: %v", s, err)
			}
			continue
		}
		if ok && !got.Equal(want) {
			t.Fatalf("parseRFC3339(%q) = %v, want %v", s, got, want)
		}
		if !ok && tm.Year() >= 0 && tm.Year() <= 9999 {
			t.Fatalf("parseRFC3339(%q) rejected a valid time", s)
		}
	}
}

func TestCSVParseAllocs(t *testing.T) {
	var body bytes.Buffer
	if _, err := GenerateCSV(&body, GenConfig{Records: 1000, Seed: 1, Start: ingestTestNow.AddDate(0, 0, -3), Days: 2}); err != nil {
		t.Fatal(err)
	}
	data := body.Bytes()
	nl := bytes.IndexByte(data, '\n')
	p, err := NewCSVParser(data[:nl], ingestTestCfg)
	if err != nil {
		t.Fatal(err)
	}
	c := Chunk{Data: data[nl+1:], FirstLine: 2, Offset: int64(nl + 1)}
	out := make([]Item, 0, 1000)
	allocs := testing.AllocsPerRun(20, func() { out = p.Parse(c, out[:0]) })
	for _, it := range out {
		if it.Reason != "" {
			t.Fatalf("line %d: %s: %s", it.Line, it.Reason, it.Detail)
		}
	}
	// One string per record, nothing per field.
	if perRecord := allocs / float64(len(out)); perRecord > 1.01 {
		t.Fatalf("%.2f allocations per record, want 1", perRecord)
	}
}

func BenchmarkCSVParse(b *testing.B) {
	// A 12-column canonical feed, the shape the throughput target is about.
	var buf bytes.Buffer
	if _, err := GenerateCSV(&buf, GenConfig{Records: 100_000, SIMs: 10_000, Seed: 7, Start: ingestTestNow.AddDate(0, 0, -10), Days: 7}); err != nil {
		b.Fatal(err)
	}
	data := keepColumns(b, buf.Bytes(), 12)
	nl := bytes.IndexByte(data, '\n')
	p, err := NewCSVParser(data[:nl], ingestTestCfg)
	if err != nil {
		b.Fatal(err)
	}
	s := NewSplitter(bytes.NewReader(data[nl+1:]), 1<<20, true)
	var chunks []Chunk
	for {
		c, err := s.Next()
		if err != nil {
			break
		}
		chunks = append(chunks, c)
	}
	out := make([]Item, 0, 20_000)
	records := 0
	b.SetBytes(int64(len(data) - nl - 1))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, c := range chunks {
			out = p.Parse(c, out[:0])
			records += len(out)
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// keepColumns keeps the first n columns of every line.
func keepColumns(tb testing.TB, data []byte, n int) []byte {
	tb.Helper()
	var out bytes.Buffer
	for line := range bytes.Lines(data) {
		_, end := fieldRange(line, n-1)
		out.Write(line[:end])
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func FuzzCSVParse(f *testing.F) {
	f.Add([]byte("r1,data," + testICCID + ",2024-03-05T10:00:00Z,5\n"))
	f.Add([]byte(`"r,1",data,"` + testICCID + `",2024-03-05T10:00:00Z,"1` + "\n" + `"` + "\r\n\n"))
	f.Add([]byte(`a"b,"c""d",e` + "\n\"\n"))
	f.Add([]byte("\ufeff,,,,\n"))
	p, err := NewCSVParser([]byte("record_id,type,iccid,start_time,bytes_up"), ingestTestCfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := p.Parse(Chunk{Data: data, FirstLine: 1}, nil)
		for _, it := range whole {
			if it.Reason == "" && it.Record.Validate(ingestTestNow, ingestTestCfg.MaxAge) != nil {
				t.Fatalf("line %d accepted but invalid: %+v", it.Line, it.Record)
			}
			if it.Reason != "" && it.Detail == "" {
				t.Fatalf("line %d: reason %s without detail", it.Line, it.Reason)
			}
		}
		// Chunks cut by the splitter give the same items as the whole input.
		var split []Item
		s := NewSplitter(bytes.NewReader(data), 3, true)
		for {
			c, err := s.Next()
			if err != nil {
				break
			}
			split = p.Parse(c, split)
		}
		if diff := cmp.Diff(whole, split, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("split parse differs (-whole +split):\n%s", diff)
		}
	})
}

func TestCSVParseConcurrent(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if _, err := GenerateCSV(&buf, GenConfig{Records: 20_000, Seed: 8, Start: ingestTestNow.AddDate(0, 0, -5), Days: 3, DupRate: 0.05, BadRate: 0.05}); err != nil {
		t.Fatal(err)
	}
	s := NewSplitter(&buf, 16<<10, true)
	header, err := s.ReadHeaderLine()
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewCSVParser(header, ingestTestCfg)
	if err != nil {
		t.Fatal(err)
	}
	var chunks []Chunk
	for {
		c, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, c)
	}
	want := make([][]Item, len(chunks))
	for i, c := range chunks {
		want[i] = p.Parse(c, nil)
	}
	got := make([][]Item, len(chunks))
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := w; i < len(chunks); i += 4 {
				got[i] = p.Parse(chunks[i], nil)
			}
		}()
	}
	for range 4 {
		<-done
	}
	for i := range chunks {
		if !reflect.DeepEqual(want[i], got[i]) {
			t.Fatalf("chunk %d parsed differently on another goroutine", i)
		}
	}
}
