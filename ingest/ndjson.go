package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"time"
)

// ndjsonParser parses one JSON object per line.
type ndjsonParser struct {
	cfg  ParserConfig
	conv converter
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
}

// values returns the record's values indexed by field.
func (r *ndjsonRecord) values() [numFields]*jsonText {
	return [numFields]*jsonText{
		fRecordID: &r.RecordID, fType: &r.Type, fICCID: &r.ICCID, fStartTime: &r.StartTime,
		fNodeID: &r.NodeID, fIMSI: &r.IMSI, fMSISDN: &r.MSISDN, fDuration: &r.DurationS,
		fBytesUp: &r.BytesUp, fBytesDown: &r.BytesDown, fMCCMNC: &r.MCCMNC, fRAT: &r.RAT,
		fAPN: &r.APN, fPeer: &r.PeerNumber, fSequence: &r.Sequence, fClosingCause: &r.ClosingCause,
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
		if len(bytes.TrimSpace(rec)) == 0 {
			continue
		}
		out = append(out, Item{Line: line, Offset: c.Offset + int64(start), Raw: rec})
		p.parseRecord(&out[len(out)-1], now)
	}
	return out
}

func (p *ndjsonParser) parseRecord(it *Item, now time.Time) {
	var nr ndjsonRecord
	if err := json.Unmarshal(it.Raw, &nr); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			it.Reason = "json_syntax"
		} else {
			it.Reason = "json_type"
		}
		it.Detail = err.Error()
		return
	}
	for f, v := range nr.values() {
		if !v.set {
			continue
		}
		if reason, detail := p.conv.set(&it.Record, field(f), v.s); reason != "" {
			it.Reason, it.Detail = reason, detail
			return
		}
	}
	validate(it, now, p.cfg.MaxAge)
}
