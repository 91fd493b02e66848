package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/simcore/simcore/metering"
)

// ndjsonParser parses one JSON object per line.
type ndjsonParser struct {
	cfg ParserConfig
}

var _ Parser = (*ndjsonParser)(nil)

// NewNDJSONParser returns a Parser for newline-delimited JSON: one object
// per line with the canonical CSV field names (record_id, type, iccid,
// start_time, ...). Values may be JSON strings or numbers (so "bytes_up": 5
// and "bytes_up": "5" are the same); null means absent; unknown fields are
// ignored. Split the input with quoteAware false. The error is always nil;
// it is there for formats to come that take options.
func NewNDJSONParser(cfg ParserConfig) (Parser, error) {
	return &ndjsonParser{cfg: cfg}, nil
}

// ndjsonRecord holds one line's values in field order.
type ndjsonRecord struct {
	RecordID     jsonText `json:"record_id"`
	Type         jsonText `json:"type"`
	ICCID        jsonText `json:"iccid"`
	StartTime    jsonText `json:"start_time"`
	NodeID       jsonText `json:"node_id"`
	IMSI         jsonText `json:"imsi"`
	MSISDN       jsonText `json:"msisdn"`
	DurationS    jsonText `json:"duration_s"`
	BytesUp      jsonText `json:"bytes_up"`
	BytesDown    jsonText `json:"bytes_down"`
	MCCMNC       jsonText `json:"mcc_mnc"`
	RAT          jsonText `json:"rat"`
	APN          jsonText `json:"apn"`
	PeerNumber   jsonText `json:"peer_number"`
	Sequence     jsonText `json:"sequence"`
	ClosingCause jsonText `json:"closing_cause"`
	ChargingID   jsonText `json:"charging_id"`
	PGWAddress   jsonText `json:"pgw_address"`
}

// values returns the record's values indexed by field.
func (r *ndjsonRecord) values() [numFields]*jsonText {
	return [numFields]*jsonText{
		fRecordID: &r.RecordID, fType: &r.Type, fICCID: &r.ICCID, fStartTime: &r.StartTime,
		fNodeID: &r.NodeID, fIMSI: &r.IMSI, fMSISDN: &r.MSISDN, fDuration: &r.DurationS,
		fBytesUp: &r.BytesUp, fBytesDown: &r.BytesDown, fMCCMNC: &r.MCCMNC, fRAT: &r.RAT,
		fAPN: &r.APN, fPeer: &r.PeerNumber, fSequence: &r.Sequence, fClosingCause: &r.ClosingCause,
		fChargingID: &r.ChargingID, fPGWAddress: &r.PGWAddress,
	}
}

// jsonText is a JSON string or number kept as text; null leaves it unset.
type jsonText struct {
	s   string
	set bool
}

var stringType = reflect.TypeFor[string]()

// UnmarshalJSON implements json.Unmarshaler.
func (j *jsonText) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n': // null
		*j = jsonText{}
		return nil
	case '"':
		if bytes.IndexByte(b, '\\') < 0 {
			j.s, j.set = string(b[1:len(b)-1]), true
			return nil
		}
		if err := json.Unmarshal(b, &j.s); err != nil {
			return err
		}
		j.set = true
		return nil
	case 't', 'f':
		return &json.UnmarshalTypeError{Value: "bool", Type: stringType}
	case '{':
		return &json.UnmarshalTypeError{Value: "object", Type: stringType}
	case '[':
		return &json.UnmarshalTypeError{Value: "array", Type: stringType}
	}
	j.s, j.set = string(b), true // a number literal
	return nil
}

// Parse implements Parser.
func (p *ndjsonParser) Parse(c Chunk, out []Item) []Item {
	now := p.cfg.Now
	if now.IsZero() {
		now = time.Now()
	}
	data := c.Data
	pos := 0
	if c.Offset == 0 && bytes.HasPrefix(data, utf8BOM) {
		pos = len(utf8BOM)
	}
	for line := c.FirstLine; pos < len(data); line++ {
		start, next := pos, len(data)
		if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			next = pos + i + 1
		}
		rec := trimEOL(data[start:next])
		pos = next
		// Blank is JSON white space only: a line of other Unicode space
		// (NBSP, form feed) is no JSON and is rejected, not dropped.
		if len(bytes.Trim(rec, " \t\r")) == 0 {
			continue
		}
		out = append(out, Item{Line: line, Offset: c.Offset + int64(start), Raw: rec})
		p.parseRecord(&out[len(out)-1], now)
	}
	return out
}

func (p *ndjsonParser) parseRecord(it *Item, now time.Time) {
	it.Record, it.Reason, it.Detail = decodeNDJSON(it.Raw)
	if it.Reason == "" {
		validate(it, now, p.cfg.MaxAge)
	}
}

// decodeNDJSON reads one NDJSON line into a record, without validating it.
// It returns a reason code and detail when the line is not a record.
func decodeNDJSON(raw []byte) (rec metering.Record, reason, detail string) {
	var nr ndjsonRecord
	var conv converter
	if err := json.Unmarshal(raw, &nr); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return rec, "json_syntax", err.Error()
		}
		return rec, "json_type", err.Error()
	}
	for f, v := range nr.values() {
		if !v.set {
			continue
		}
		if reason, detail := conv.set(&rec, field(f), v.s); reason != "" {
			return metering.Record{}, reason, detail
		}
	}
	return rec, "", ""
}

// AppendNDJSON appends r to dst as one NDJSON line (with its '\n') in the
// canonical field names NewNDJSONParser reads, and returns the extended
// slice. Empty strings and zero numbers other than the counters are left
// out (the parser reads an absent field as its zero value), start_time is
// RFC 3339 in UTC with its fraction, so parsing the line gives r back:
// every field, identity (node_id, record_id) and bearer (charging_id,
// pgw_address) included. Strings that are not valid UTF-8 are the one
// exception: JSON cannot carry them, and they come back with U+FFFD in
// place of the bad bytes.
func AppendNDJSON(dst []byte, r *metering.Record) []byte {
	dst = append(dst, `{"record_id":`...)
	dst = appendJSONString(dst, r.RecordID)
	dst = appendStringField(dst, "node_id", r.NodeID)
	dst = append(dst, `,"type":"`...)
	dst = append(dst, r.Type.String()...)
	dst = append(dst, '"')
	dst = appendStringField(dst, "iccid", r.ICCID)
	dst = appendStringField(dst, "imsi", r.IMSI)
	dst = appendStringField(dst, "msisdn", r.MSISDN)
	dst = append(dst, `,"start_time":"`...)
	dst = r.StartTime.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","duration_s":`...)
	dst = strconv.AppendUint(dst, uint64(r.DurationS), 10)
	dst = append(dst, `,"bytes_up":`...)
	dst = strconv.AppendUint(dst, r.BytesUp, 10)
	dst = append(dst, `,"bytes_down":`...)
	dst = strconv.AppendUint(dst, r.BytesDown, 10)
	dst = appendStringField(dst, "mcc_mnc", r.MCCMNC)
	dst = appendStringField(dst, "rat", r.RAT)
	dst = appendStringField(dst, "apn", r.APN)
	dst = appendStringField(dst, "peer_number", r.PeerNumber)
	dst = appendUintField(dst, "sequence", uint64(r.Sequence))
	dst = appendUintField(dst, "closing_cause", uint64(r.ClosingCause))
	dst = appendUintField(dst, "charging_id", uint64(r.ChargingID))
	dst = appendStringField(dst, "pgw_address", r.PGWAddress)
	return append(dst, "}\n"...)
}

func appendStringField(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, `,"`...)
	dst = append(dst, name...)
	dst = append(dst, `":`...)
	return appendJSONString(dst, v)
}

func appendUintField(dst []byte, name string, v uint64) []byte {
	if v == 0 {
		return dst
	}
	dst = append(dst, `,"`...)
	dst = append(dst, name...)
	dst = append(dst, `":`...)
	return strconv.AppendUint(dst, v, 10)
}

// appendJSONString appends s as a JSON string. Printable ASCII without
// quotes or backslashes (identities, numbers, names: nearly every value)
// is copied; anything else goes through encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// ndjsonFields maps the canonical JSON names to fields.
var ndjsonFields = func() map[string]field {
	m := make(map[string]field, numFields)
	for i, n := range fieldNames {
		m[n] = field(i)
	}
	return m
}()

// decodeFlatNDJSON is the fast path of decodeNDJSON for lines shaped like
// AppendNDJSON's (the write-ahead log's segments, read back at every
// rotation): one flat object of exactly-spelled canonical fields whose
// strings have no escapes and whose numbers are unsigned integers. It
// converts the line to a string once and slices the record's strings out
// of it. It reports false, leaving the line to decodeNDJSON, for anything
// else, and for a value the converter rejects (so that decodeNDJSON gives
// the reason).
func decodeFlatNDJSON(line []byte) (metering.Record, bool) {
	var (
		rec  metering.Record
		conv converter
	)
	s := string(line)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return rec, false
	}
	i := 1
	for {
		// "key":
		if i >= len(s) || s[i] != '"' {
			return rec, false
		}
		end := indexByteFrom(s, i+1, '"')
		if end < 0 || end+1 >= len(s) || s[end+1] != ':' {
			return rec, false
		}
		f, ok := ndjsonFields[s[i+1:end]]
		if !ok {
			return rec, false
		}
		i = end + 2
		// value: "text" or digits
		var v string
		switch {
		case i < len(s) && s[i] == '"':
			vend := indexByteFrom(s, i+1, '"')
			if vend < 0 {
				return rec, false
			}
			v = s[i+1 : vend]
			for j := 0; j < len(v); j++ {
				// Escapes, and bytes encoding/json may rewrite (invalid
				// UTF-8), are the full decoder's.
				if c := v[j]; c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
					return rec, false
				}
			}
			i = vend + 1
		default:
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j == i || (s[i] == '0' && j > i+1) { // JSON has no leading zeros
				return rec, false
			}
			v, i = s[i:j], j
		}
		if reason, _ := conv.set(&rec, f, v); reason != "" {
			return rec, false
		}
		if i >= len(s) {
			return rec, false
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			return rec, i == len(s)-1
		default:
			return rec, false
		}
	}
}

func indexByteFrom(s string, from int, c byte) int {
	for j := from; j < len(s); j++ {
		if s[j] == c {
			return j
		}
	}
	return -1
}
