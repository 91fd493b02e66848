package ingest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// checkAccounted fails t unless items account for every record of data
// (the input after any header, starting at line firstLine and offset
// base): each item's Raw is the source text at its Offset, its Line counts
// the line breaks before it, items come in source order without
// overlapping, and whatever no item covers is line endings, blank lines,
// a leading byte-order mark or (with comment set) comment lines. A rejected
// item has a reason and a detail; an accepted one validates.
func checkAccounted(t *testing.T, data []byte, base, firstLine int64, comment byte, items []Item) {
	t.Helper()
	var (
		pos     int64 // end of the previous item's Raw, relative to data
		covered = make([]bool, len(data))
	)
	for i, it := range items {
		off := it.Offset - base
		if off < pos || off+int64(len(it.Raw)) > int64(len(data)) {
			t.Fatalf("item %d at offset %d (%q) overlaps the previous one or lies outside the input", i, it.Offset, it.Raw)
		}
		if !bytes.Equal(data[off:off+int64(len(it.Raw))], it.Raw) {
			t.Fatalf("item %d: Raw %q is not the input at offset %d", i, it.Raw, it.Offset)
		}
		if want := firstLine + int64(bytes.Count(data[:off], []byte{'\n'})); it.Line != want {
			t.Fatalf("item %d (%q): line %d, want %d", i, it.Raw, it.Line, want)
		}
		if off > 0 && data[off-1] != '\n' && !(off == 3 && base == 0 && bytes.HasPrefix(data, utf8BOM)) {
			t.Fatalf("item %d (%q) does not start a line", i, it.Raw)
		}
		for j := off; j < off+int64(len(it.Raw)); j++ {
			covered[j] = true
		}
		pos = off + int64(len(it.Raw))
		switch {
		case it.Reason == "" && it.Record.Validate(ingestTestNow, ingestTestCfg.MaxAge) != nil:
			t.Fatalf("line %d accepted but invalid: %+v", it.Line, it.Record)
		case it.Reason != "" && it.Detail == "":
			t.Fatalf("line %d: reason %s without detail", it.Line, it.Reason)
		}
	}
	// What is left, line by line, must be nothing a feed means as a record.
	rest := make([]byte, 0, len(data))
	for j, c := range data {
		if !covered[j] {
			rest = append(rest, c)
		} else if j+1 == len(data) || !covered[j+1] {
			rest = append(rest, 0) // an item's place: its line is not blank
		}
	}
	if base == 0 {
		rest = bytes.TrimPrefix(rest, utf8BOM)
	}
	for line := range bytes.Lines(rest) {
		if line[0] == 0 {
			if len(bytes.Trim(line[1:], "\r\n")) != 0 {
				t.Fatalf("text %q after a record on its line belongs to no item", line[1:])
			}
			continue
		}
		if comment != 0 && line[0] == comment {
			continue
		}
		if len(bytes.Trim(line, " \t\r\n")) != 0 {
			t.Fatalf("line %q belongs to no item: lost", line)
		}
	}
}

// FuzzRecordsAccounted: whatever the bytes, canonical CSV and NDJSON give
// every record exactly one item, stored or rejected with a reason; nothing
// is dropped silently and nothing is counted twice.
func FuzzRecordsAccounted(f *testing.F) {
	f.Add([]byte("r1,data,"+testICCID+",2024-03-05T10:00:00Z,5\n\"r\n2\",sms,"+testICCID+",2024-03-05T10:00:00Z,\r\n \t\n"), true)
	f.Add([]byte(`{"record_id":"a","type":"data","iccid":"`+testICCID+`","start_time":"2024-03-05T10:00:00Z"}`+"\n\r\n\f\n{"), false)
	f.Add([]byte("\ufeffr1,data,"+testICCID+",2024-03-05T10:00:00Z,5"), true)
	f.Add([]byte("\ufeff{}\n\"\n"), false)
	if data, err := os.ReadFile("testdata/vendor_export.csv"); err == nil {
		f.Add(data, true)
	}
	csvP, err := NewCSVParser([]byte("record_id,type,iccid,start_time,bytes_up"), ingestTestCfg)
	if err != nil {
		f.Fatal(err)
	}
	jsonP, err := NewNDJSONParser(ingestTestCfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, isCSV bool) {
		p := jsonP
		if isCSV {
			p = csvP
		}
		var items []Item
		for _, c := range collectChunks(t, NewSplitter(bytes.NewReader(data), 7, isCSV)) {
			items = p.Parse(c, items)
		}
		checkAccounted(t, data, 0, 1, 0, items)
	})
}

// FuzzMappedParse: a mapping file either loads or is refused with
// ErrInvalidMapping, and a feed read through a loaded mapping accounts for
// every record, cut into chunks or whole.
func FuzzMappedParse(f *testing.F) {
	mapping, err := os.ReadFile("testdata/vendor_mapping.yaml")
	if err != nil {
		f.Fatal(err)
	}
	feed, err := os.ReadFile("testdata/vendor_export.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mapping, feed)
	f.Add([]byte("separator: \"\\t\"\ncomment: \";\"\nquote: false\ntime_layout: unix\nfields:\n  record_id: {column: 1}\n  type: {value: data}\n  iccid: {column: 2}\n  start_time: {column: 3}\n  bytes_up: {column: 4}\n"),
		[]byte(";c\n\nr1\t"+testICCID+"\t1709632800\t7\nr2\t\"x\t1\n"))
	f.Add([]byte("header: true\ntime_layout: \"02/01/2006 15:04 MST\"\ntime_zone: Europe/London\ntype_values: {D: data}\nfields: {record_id: {column: id}, type: {column: t}, iccid: {value: \""+testICCID+"\"}, start_time: {column: 4}}\n"),
		[]byte("\ufeffid,t,x,when\r\n1,D,,05/03/2024 10:00 GMT\r\n2,d,,05/03/2024 10:00 BST\r\n"))
	f.Fuzz(func(t *testing.T, mappingText, data []byte) {
		m, err := ParseMapping(mappingText)
		if err != nil {
			if !errors.Is(err, ErrInvalidMapping) {
				t.Fatalf("ParseMapping: %v does not wrap ErrInvalidMapping", err)
			}
			return
		}
		sp := NewSplitter(bytes.NewReader(data), 5, m.QuoteAware())
		sp.SkipComments(m.CommentPrefix())
		var header []byte
		if m.HasHeader() {
			if header, err = sp.ReadHeaderLine(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("ReadHeaderLine: %v", err)
				}
				return
			}
		}
		p, err := NewMappedParser(m, header, ingestTestCfg)
		if err != nil {
			if !errors.Is(err, ErrInvalidHeader) {
				t.Fatalf("NewMappedParser: %v does not wrap ErrInvalidHeader", err)
			}
			return
		}
		var items []Item
		base, firstLine := sp.offset, sp.line // past the header
		for _, c := range collectChunks(t, sp) {
			items = p.Parse(c, items)
		}
		body := data[base:]
		checkAccounted(t, body, base, firstLine, m.CommentPrefix(), items)
		whole := p.Parse(Chunk{Data: body, Offset: base, FirstLine: firstLine}, nil)
		if diff := cmp.Diff(whole, items, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("chunked parse differs (-whole +chunked):\n%s", diff)
		}
	})
}
