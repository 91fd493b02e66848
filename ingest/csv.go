package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/simcore/simcore/metering"
)

// ErrInvalidHeader is wrapped by NewCSVParser and NewMappedParser when a
// header line cannot serve the format.
var ErrInvalidHeader = errors.New("invalid header")

// Item is one parsed record, or the reason it was rejected.
type Item struct {
	Record metering.Record
	Line   int64  // 1-based line number in the source
	Offset int64  // byte offset of the record in the source
	Raw    []byte // the record's raw text without the line ending (aliases the chunk's Data)
	// Reason is "" when the record parsed and validated; otherwise a stable
	// code: a parse code (csv_field_count, csv_quote, bad_number, bad_type,
	// bad_start_time, json_syntax, json_type) or a metering.ValidationError
	// reason (iccid_luhn, missing_record_id, ...).
	Reason string
	Detail string // human-readable detail for the reason, e.g. `start_time: parsing time "x" ...`
	// Source, if set, names where the record came from instead of the
	// Source's Name: a retried quarantined record keeps its original source.
	Source string
}

// Parser turns chunks into items. Implementations are safe for concurrent
// use by many goroutines.
type Parser interface {
	// Parse appends one Item per non-empty, non-comment record in c to out
	// and returns the extended slice. Items' Raw aliases c.Data.
	Parse(c Chunk, out []Item) []Item
}

// ParserConfig holds what parsers pass to metering.Record.Validate.
type ParserConfig struct {
	Now    time.Time     // zero: time.Now() at each Parse call
	MaxAge time.Duration // records older than Now-MaxAge are rejected; <= 0: no limit
}

// field names a metering.Record field as feeds spell it.
type field uint8

const (
	fRecordID field = iota
	fType
	fICCID
	fStartTime
	fNodeID
	fIMSI
	fMSISDN
	fDuration
	fBytesUp
	fBytesDown
	fMCCMNC
	fRAT
	fAPN
	fPeer
	fSequence
	fClosingCause
	fChargingID
	fPGWAddress
	numFields
)

var fieldNames = [numFields]string{
	"record_id", "type", "iccid", "start_time", "node_id", "imsi", "msisdn",
	"duration_s", "bytes_up", "bytes_down", "mcc_mnc", "rat", "apn",
	"peer_number", "sequence", "closing_cause", "charging_id", "pgw_address",
}

// requiredFields must be present in every format's column set.
var requiredFields = [...]field{fRecordID, fType, fICCID, fStartTime}

func (f field) String() string { return fieldNames[f] }

func fieldByName(name string) (field, bool) {
	for i, n := range fieldNames {
		if strings.EqualFold(n, name) {
			return field(i), true
		}
	}
	return 0, false
}

// converter turns one textual value into a Record field. The canonical
// formats use the zero value; mapped CSV sets time and type conventions.
type converter struct {
	time       timeFormat
	typeValues []typeValue // vendor names tried before data|voice|sms
}

type typeValue struct {
	name string
	typ  metering.UsageType
}

// set stores v in field f of r. It returns a reason code and detail when v
// cannot be converted. An empty v leaves the field at its zero value.
func (cv *converter) set(r *metering.Record, f field, v string) (reason, detail string) {
	switch f {
	case fRecordID:
		r.RecordID = v
	case fNodeID:
		r.NodeID = v
	case fICCID:
		r.ICCID = v
	case fIMSI:
		r.IMSI = v
	case fMSISDN:
		r.MSISDN = strings.TrimPrefix(v, "+")
	case fPeer:
		r.PeerNumber = strings.TrimPrefix(v, "+")
	case fMCCMNC:
		r.MCCMNC = v
	case fRAT:
		r.RAT = v
	case fAPN:
		r.APN = v
	case fType:
		if v == "" {
			r.Type = 0 // Validate reports missing_type
			return "", ""
		}
		t, ok := cv.parseType(v)
		if !ok {
			return "bad_type", "type: unknown usage type " + quote(v)
		}
		r.Type = t
	case fStartTime:
		if v == "" {
			r.StartTime = time.Time{} // Validate reports missing_start_time
			return "", ""
		}
		t, err := cv.time.parse(v)
		if err != nil {
			return "bad_start_time", "start_time: " + err.Error()
		}
		r.StartTime = t
	case fPGWAddress:
		r.PGWAddress = v
	case fDuration, fSequence, fChargingID:
		n, ok := parseUint(v, 1<<32-1)
		if !ok {
			return badNumber(f, v)
		}
		switch f {
		case fDuration:
			r.DurationS = uint32(n)
		case fSequence:
			r.Sequence = uint32(n)
		default:
			r.ChargingID = uint32(n)
		}
	case fBytesUp, fBytesDown:
		n, ok := parseUint(v, 1<<64-1)
		if !ok {
			return badNumber(f, v)
		}
		if f == fBytesUp {
			r.BytesUp = n
		} else {
			r.BytesDown = n
		}
	case fClosingCause:
		n, ok := parseUint(v, 255)
		if !ok {
			return badNumber(f, v)
		}
		r.ClosingCause = uint8(n)
	}
	return "", ""
}

func badNumber(f field, v string) (string, string) {
	return "bad_number", f.String() + ": not a non-negative integer in range: " + quote(v)
}

func quote(v string) string {
	const max = 64
	if len(v) > max {
		v = v[:max] + "..."
	}
	return fmt.Sprintf("%q", v)
}

func (cv *converter) parseType(v string) (metering.UsageType, bool) {
	for _, tv := range cv.typeValues {
		if strings.EqualFold(tv.name, v) {
			return tv.typ, true
		}
	}
	switch {
	case strings.EqualFold(v, "data"):
		return metering.TypeData, true
	case strings.EqualFold(v, "voice"):
		return metering.TypeVoice, true
	case strings.EqualFold(v, "sms"):
		return metering.TypeSMS, true
	}
	return 0, false
}

// parseUint parses a decimal number no larger than limit. Empty is 0.
func parseUint(s string, limit uint64) (uint64, bool) {
	var n uint64
	for i := 0; i < len(s); i++ {
		d := uint64(s[i] - '0')
		if d > 9 || n > (limit-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// validate runs Record.Validate and records its reason in it.
func validate(it *Item, now time.Time, maxAge time.Duration) {
	err := it.Record.Validate(now, maxAge)
	if err == nil {
		return
	}
	var ve *metering.ValidationError
	if errors.As(err, &ve) {
		it.Reason = ve.Reason
	} else {
		it.Reason = "invalid_record"
	}
	it.Detail = err.Error()
}

// binding says which field of a record holds a Record field.
type binding struct {
	f   field
	col int // 0-based field index
}

// span is a field's [a, b) range in a record's text.
type span struct{ a, b int }

type csvScratch struct {
	spans []span
	unq   []byte // unescaped text of quoted records
}

// csvParser is the engine behind canonical and mapped CSV.
type csvParser struct {
	sep       byte
	comment   byte // 0: none
	quote     bool // RFC 4180 quoting
	trim      bool // trim spaces around values
	minFields int  // records with fewer fields are rejected
	maxFields int  // records with more fields are rejected; 0: no limit
	bind      []binding
	template  metering.Record // constants from a mapping
	conv      converter
	cfg       ParserConfig
	scratch   sync.Pool
}

var _ Parser = (*csvParser)(nil)

// NewCSVParser returns a Parser for canonical CSV whose header line is
// header (as returned by Splitter.ReadHeaderLine; split the input with
// quoteAware true). Header names are trimmed and matched case-insensitively
// in any order; unknown columns are ignored. The error wraps
// ErrInvalidHeader when a required column (record_id, type, iccid,
// start_time) is missing or a known column appears twice.
//
// Records must have exactly as many fields as the header. start_time is RFC
// 3339 with an offset; numbers are non-negative decimals, empty meaning 0;
// a leading '+' on msisdn and peer_number is dropped.
func NewCSVParser(header []byte, cfg ParserConfig) (Parser, error) {
	names, err := splitHeader(header, ',', true)
	if err != nil {
		return nil, err
	}
	var cols [numFields]int
	for i := range cols {
		cols[i] = -1
	}
	for i, name := range names {
		f, ok := fieldByName(name)
		if !ok {
			continue
		}
		if cols[f] >= 0 {
			return nil, fmt.Errorf("csv header: column %q appears twice: %w", f, ErrInvalidHeader)
		}
		cols[f] = i
	}
	for _, f := range requiredFields {
		if cols[f] < 0 {
			return nil, fmt.Errorf("csv header: missing required column %q: %w", f, ErrInvalidHeader)
		}
	}
	p := &csvParser{sep: ',', quote: true, minFields: len(names), maxFields: len(names), cfg: cfg}
	for f, col := range cols {
		if col >= 0 {
			p.bind = append(p.bind, binding{f: field(f), col: col})
		}
	}
	p.initScratch()
	return p, nil
}

func (p *csvParser) initScratch() {
	p.scratch.New = func() any {
		return &csvScratch{spans: make([]span, 0, max(64, p.minFields+1))}
	}
}

// splitHeader splits a header line into trimmed names.
func splitHeader(header []byte, sep byte, quoted bool) ([]string, error) {
	header = bytes.TrimPrefix(trimEOL(header), utf8BOM)
	if len(bytes.TrimSpace(header)) == 0 {
		return nil, fmt.Errorf("csv header: empty: %w", ErrInvalidHeader)
	}
	var (
		spans []span
		text  = header
	)
	if quoted && bytes.IndexByte(header, '"') >= 0 {
		var reason, detail string
		text, spans, reason, detail = splitQuoted(header, sep, nil, nil)
		if reason != "" {
			return nil, fmt.Errorf("csv header: %s: %w", detail, ErrInvalidHeader)
		}
	} else {
		spans = splitFields(header, sep, nil)
	}
	names := make([]string, len(spans))
	for i, sp := range spans {
		names[i] = strings.TrimSpace(string(text[sp.a:sp.b]))
	}
	return names, nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Parse implements Parser.
func (p *csvParser) Parse(c Chunk, out []Item) []Item {
	now := p.cfg.Now
	if now.IsZero() {
		now = time.Now()
	}
	sc := p.scratch.Get().(*csvScratch)
	defer p.scratch.Put(sc)

	data := c.Data
	pos := 0
	if c.Offset == 0 && bytes.HasPrefix(data, utf8BOM) {
		pos = len(utf8BOM)
	}
	line := c.FirstLine
	for pos < len(data) {
		start, next := pos, len(data)
		if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			next = pos + i + 1
		}
		rec := data[start:next]
		nlines := int64(1)
		if p.comment != 0 && len(rec) > 0 && rec[0] == p.comment {
			// A comment line ends at its first line break, whatever
			// quotes it holds (the Splitter cuts chunks the same way).
			pos, line = next, line+1
			continue
		}
		quoted := p.quote && bytes.IndexByte(rec, '"') >= 0
		if quoted {
			next = recordEnd(data, start)
			rec = data[start:next]
			nlines = int64(bytes.Count(rec[:len(rec)-1], []byte{'\n'})) + 1
		}
		rec = trimEOL(rec)
		pos = next
		recLine := line
		line += nlines
		if blank(rec) {
			continue
		}
		out = append(out, Item{Line: recLine, Offset: c.Offset + int64(start), Raw: rec})
		p.parseRecord(&out[len(out)-1], quoted, sc, now)
	}
	return out
}

// parseRecord fills it from it.Raw.
func (p *csvParser) parseRecord(it *Item, quoted bool, sc *csvScratch, now time.Time) {
	text := it.Raw
	var spans []span
	if quoted {
		var reason, detail string
		text, spans, reason, detail = splitQuoted(it.Raw, p.sep, sc.unq[:0], sc.spans[:0])
		sc.unq = text[:0]
		sc.spans = spans[:0]
		if reason != "" {
			it.Reason, it.Detail = reason, detail
			return
		}
	} else {
		spans = splitFields(it.Raw, p.sep, sc.spans[:0])
		sc.spans = spans[:0]
	}
	if n := len(spans); n < p.minFields || p.maxFields > 0 && n > p.maxFields {
		it.Reason = "csv_field_count"
		if p.maxFields > 0 {
			it.Detail = fmt.Sprintf("record has %d fields, header has %d", n, p.maxFields)
		} else {
			it.Detail = fmt.Sprintf("record has %d fields, mapping needs %d", n, p.minFields)
		}
		return
	}
	// One string per record: every string field is a substring of it.
	str := string(text)
	it.Record = p.template
	for _, b := range p.bind {
		sp := spans[b.col]
		v := str[sp.a:sp.b]
		if p.trim {
			v = strings.TrimSpace(v)
		}
		if reason, detail := p.conv.set(&it.Record, b.f, v); reason != "" {
			it.Reason, it.Detail = reason, detail
			return
		}
	}
	validate(it, now, p.cfg.MaxAge)
}

// splitFields appends the spans of rec's sep-separated fields to spans.
func splitFields(rec []byte, sep byte, spans []span) []span {
	start := 0
	for {
		i := bytes.IndexByte(rec[start:], sep)
		if i < 0 {
			return append(spans, span{start, len(rec)})
		}
		spans = append(spans, span{start, start + i})
		start += i + 1
	}
}

// splitQuoted splits an RFC 4180 record that may hold quoted fields,
// appending unescaped field text to unq and their spans (into unq) to spans.
// A quote inside an unquoted field, text after a closing quote, or a quote
// left open give the reason csv_quote.
func splitQuoted(rec []byte, sep byte, unq []byte, spans []span) ([]byte, []span, string, string) {
	i := 0
	for field := 1; ; field++ {
		start := len(unq)
		if i < len(rec) && rec[i] == '"' {
			i++
			for {
				j := bytes.IndexByte(rec[i:], '"')
				if j < 0 {
					return unq, spans, "csv_quote", fmt.Sprintf("field %d: quoted field not closed", field)
				}
				unq = append(unq, rec[i:i+j]...)
				i += j + 1
				if i < len(rec) && rec[i] == '"' {
					unq = append(unq, '"')
					i++
					continue
				}
				break
			}
			spans = append(spans, span{start, len(unq)})
			if i == len(rec) {
				return unq, spans, "", ""
			}
			if rec[i] != sep {
				return unq, spans, "csv_quote", fmt.Sprintf("field %d: text after closing quote", field)
			}
			i++
			continue
		}
		end := len(rec)
		if j := bytes.IndexByte(rec[i:], sep); j >= 0 {
			end = i + j
		}
		if bytes.IndexByte(rec[i:end], '"') >= 0 {
			return unq, spans, "csv_quote", fmt.Sprintf("field %d: quote in unquoted field", field)
		}
		unq = append(unq, rec[i:end]...)
		spans = append(spans, span{start, len(unq)})
		if end == len(rec) {
			return unq, spans, "", ""
		}
		i = end + 1
	}
}

// recordEnd returns the index just past the record starting at data[start]:
// past the first '\n' outside quotes (every '"' toggles), or len(data).
// It agrees with the Splitter's record ends.
func recordEnd(data []byte, start int) int {
	inQuote := false
	pos := start
	for {
		q := bytes.IndexByte(data[pos:], '"')
		end := len(data)
		if q >= 0 {
			end = pos + q
		}
		if !inQuote {
			if i := bytes.IndexByte(data[pos:end], '\n'); i >= 0 {
				return pos + i + 1
			}
		}
		if q < 0 {
			return len(data)
		}
		inQuote = !inQuote
		pos = end + 1
	}
}

// blank reports whether rec holds only spaces and tabs.
func blank(rec []byte) bool {
	for _, c := range rec {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// timeFormat parses start times.
type timeFormat struct {
	kind   timeKind
	layout string
	loc    *time.Location
	// abbrev: the layout reads a zone abbreviation (MST). Go takes one
	// that loc does not define as UTC, so such times are refused.
	abbrev bool
	// zoned: the layout reads an offset or abbreviation; otherwise times
	// are wall times in loc, resolved across DST changes by wallTime.
	zoned bool
}

type timeKind uint8

const (
	timeRFC3339 timeKind = iota
	timeUnix
	timeUnixMS
	timeLayout
)

func (tf *timeFormat) parse(v string) (time.Time, error) {
	switch tf.kind {
	case timeUnix, timeUnixMS:
		n, ok := parseUint(v, 1<<62)
		if !ok {
			return time.Time{}, fmt.Errorf("not a Unix time: %s", quote(v))
		}
		if tf.kind == timeUnix {
			return time.Unix(int64(n), 0).UTC(), nil
		}
		return time.UnixMilli(int64(n)).UTC(), nil
	case timeLayout:
		if !tf.zoned {
			// Read the wall clock as is (in loc, Go may move it).
			w, err := time.ParseInLocation(tf.layout, v, time.UTC)
			if err != nil {
				return time.Time{}, err
			}
			return wallTime(w, tf.loc), nil
		}
		t, err := time.ParseInLocation(tf.layout, v, tf.loc)
		if err != nil {
			return time.Time{}, err
		}
		if name, off := t.Zone(); tf.abbrev && t.Location() != tf.loc && t.Location() != time.UTC &&
			(off != 0 || name != "GMT" && name != "UT" && name != "UTC") {
			// An abbreviation loc does not define: Go made up a zone
			// at offset 0 for it, so the time would be off by hours.
			return time.Time{}, fmt.Errorf("zone %s is not one of time_zone %s (set time_zone to the feed's zone)", name, tf.loc)
		}
		return t.UTC(), nil
	}
	if t, ok := parseRFC3339(v); ok {
		return t, nil
	}
	// time.Parse takes offsets up to +24:00 and minutes up to 60, a day
	// off; RFC 3339 allows 23:59.
	if n := len(v); n >= 6 && (v[n-6] == '+' || v[n-6] == '-') && v[n-3] == ':' {
		if h, ok := num(v[n-5 : n-3]); ok && h > 23 {
			return time.Time{}, fmt.Errorf("offset %s out of range", v[n-6:])
		}
		if m, ok := num(v[n-2:]); ok && m > 59 {
			return time.Time{}, fmt.Errorf("offset %s out of range", v[n-6:])
		}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// wallTime reads a wall clock in loc the same way in every zone: a time
// that occurs twice (clocks going back) is its first occurrence, and one
// that does not occur (clocks going forward) takes the offset in force
// before the change. time.Date leaves both open, and picks differently
// depending on the sign of the zone's offset. wall holds the wall clock's
// fields, in UTC.
func wallTime(wall time.Time, loc *time.Location) time.Time {
	if loc == time.UTC {
		return wall
	}
	_, before := wall.Add(-36 * time.Hour).In(loc).Zone()
	_, after := wall.Add(36 * time.Hour).In(loc).Zone()
	at := func(off int) (time.Time, bool) {
		u := wall.Add(-time.Duration(off) * time.Second)
		_, o := u.In(loc).Zone()
		return u, o == off
	}
	a, okA := at(before)
	b, okB := at(after)
	switch {
	case okA && okB:
		if b.Before(a) {
			return b
		}
		return a
	case okA:
		return a
	case okB:
		return b
	case before == after: // two changes within the window: as Go reads it
		y, mo, d := wall.Date()
		h, mi, sec := wall.Clock()
		return time.Date(y, mo, d, h, mi, sec, wall.Nanosecond(), loc).UTC()
	}
	return a // skipped: the offset before the change
}

// parseRFC3339 parses YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM) into UTC
// without allocating. It reports false for anything else, including
// out-of-range values; callers then fall back to time.Parse.
func parseRFC3339(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") ||
		s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' ||
		s[10] != 'T' && s[10] != 't' && s[10] != ' ' {
		return time.Time{}, false
	}
	year, ok1 := num(s[0:4])
	month, ok2 := num(s[5:7])
	day, ok3 := num(s[8:10])
	hour, ok4 := num(s[11:13])
	minute, ok5 := num(s[14:16])
	sec, ok6 := num(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if s[i] == '.' {
		i++
		digits := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if digits == 9 {
				return time.Time{}, false
			}
			nsec = nsec*10 + int(s[i]-'0')
			digits++
			i++
		}
		if digits == 0 {
			return time.Time{}, false
		}
		for ; digits < 9; digits++ {
			nsec *= 10
		}
	}
	offset := 0
	switch rest := s[i:]; {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(rest[1:3])
		om, ok2 := num(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

// num parses a short run of ASCII digits.
func num(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		d := int(s[i]) - '0'
		if d < 0 || d > 9 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
