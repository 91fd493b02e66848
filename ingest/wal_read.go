package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// walSource is the Source of the records of a segment: the same as the
// RADIUS receiver's direct path (RecordSink in cmd), so stored records,
// quarantined records and metrics look alike whichever path they took.
var walSource = Source{Kind: "radius", Name: "radius", Format: FormatRADIUS}

// readSegment decodes the NDJSON lines of a segment into items. Records
// are left for IngestRecords to resolve and validate, with Line 1 and no
// Raw like RecordSink's, so a quarantined record has the same identity
// whether it came through the log or not. A line that is not a record (the
// log never writes one) is quarantined with the segment's name and its
// line.
func readSegment(data []byte, name string) []Item {
	items := make([]Item, 0, bytes.Count(data, []byte{'\n'})+1)
	for line := int64(1); len(data) > 0; line++ {
		raw := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if raw = trimEOL(raw); len(raw) > 0 {
			items = append(items, segmentItem(raw, line, name))
		}
	}
	return items
}

// segmentItem decodes one line of a segment, quickly when it is shaped
// as AppendNDJSON writes it.
func segmentItem(raw []byte, line int64, name string) Item {
	if rec, ok := decodeFlatNDJSON(raw); ok {
		return Item{Record: rec, Line: 1}
	}
	rec, reason, detail := decodeNDJSON(raw)
	if reason != "" {
		return Item{Line: line, Reason: reason, Detail: detail, Raw: append([]byte(nil), raw...), Source: name}
	}
	return Item{Record: rec, Line: 1}
}

// ingestSegment stores a segment of the RADIUS write-ahead log: its
// records through IngestRecords (ICCID resolved from the IMSI, validated,
// stored once by identity, or quarantined as the direct path would).
func (s *Spool) ingestSegment(ctx context.Context, name string, f *os.File) (Summary, error) {
	// Segments are at most MaxRecords lines (about 20 MB at 50,000).
	data, err := io.ReadAll(f)
	if err != nil {
		return Summary{}, fmt.Errorf("spool read %s: %w", name, err)
	}
	return s.Pipeline.IngestRecords(ctx, walSource, readSegment(data, name))
}

// WALRecord is what ReplayWAL reads of a logged record.
type WALRecord struct {
	RecordID string
	Sequence uint32
	// Closed: the record closed its session (closing cause 0, normal
	// release: a RADIUS Stop; its partial records carry 17).
	Closed bool
	// Logged is when the record's segment was opened (zero when its name
	// does not say): it was logged within the segment's life.
	Logged time.Time
	// At is when the update the record measures happened (its start_time
	// plus duration_s, whole seconds; zero when the line does not say):
	// the time the RADIUS receiver's mark kept when it accepted the
	// record, which Logged is not for an update that came late.
	At time.Time
}

// When is when the record's update happened: At, or Logged for a line
// that does not say.
func (r WALRecord) When() time.Time {
	if r.At.IsZero() {
		return r.Logged
	}
	return r.At
}

// ReplayWAL calls fn with every record of
// the log's complete segments in dir and in dir/done that were opened at
// or after since (by the time in their names), oldest segment first. The
// RADIUS receiver rebuilds its session high-water marks from them at
// start. Call it after OpenWAL (which renames what a dead process left
// open). It returns the number of records read.
//
// A spool in another process (the receiver runs with --store=false) may
// move a segment to done/ meanwhile. dir is listed before done/, so every
// segment is in one listing or both, and one gone from dir is read from
// done/ (one in rejected/ by then is skipped: the spool could not read it).
func ReplayWAL(dir string, since time.Time, fn func(WALRecord)) (int, error) {
	done := filepath.Join(dir, "done")
	var names []string
	for _, d := range []string{dir, done} {
		ents, err := os.ReadDir(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wal replay: %w", err)
		}
		for _, e := range ents {
			if !e.Type().IsRegular() || !IsWALSegment(e.Name()) {
				continue
			}
			// A segment holds records from its opening until its rotation.
			if t, ok := segmentTime(e.Name()); ok && t.Before(since.Add(-time.Minute)) {
				continue
			}
			names = append(names, e.Name())
		}
	}
	slices.Sort(names) // by opening time: the names begin with it
	n := 0
	for _, name := range slices.Compact(names) {
		logged, _ := segmentTime(name)
		m, err := replaySegment(filepath.Join(dir, name), logged, fn)
		if errors.Is(err, os.ErrNotExist) {
			m, err = replaySegment(filepath.Join(done, name), logged, fn)
		}
		n += m
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// segmentTime is the opening time in a segment's name.
func segmentTime(name string) (time.Time, bool) {
	rest := strings.TrimPrefix(name, walPrefix)
	stamp, _, ok := strings.Cut(rest, "-")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(segmentTimeLayout, stamp)
	return t, err == nil
}

func replaySegment(path string, logged time.Time, fn func(WALRecord)) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("wal replay: %w", err)
	}
	n := 0
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		id, seq, ok := scanIdentity(line)
		at := eventTime(line)
		// The fast path only for a line whole as AppendNDJSON ends it and
		// without NUL bytes: a corrupt one (zero-filled pages after a
		// power loss) goes through the decoder, which the spool's reading
		// agrees with, so a line the spool quarantines restores no mark.
		if t := trimEOL(line); ok && (len(t) == 0 || t[len(t)-1] != '}' || bytes.IndexByte(t, 0) >= 0) {
			ok = false
		}
		// AppendNDJSON leaves out a closing cause of 0.
		closed := !bytes.Contains(line, closingCauseField)
		if !ok {
			rec, reason, _ := decodeNDJSON(trimEOL(line))
			if reason != "" {
				continue // not a record: the spool quarantines it
			}
			id, seq, closed = rec.RecordID, rec.Sequence, rec.ClosingCause == 0
			at = rec.StartTime.Add(time.Duration(rec.DurationS) * time.Second)
		}
		fn(WALRecord{RecordID: id, Sequence: seq, Closed: closed, Logged: logged, At: at})
		n++
	}
	return n, nil
}

var closingCauseField = []byte(`,"closing_cause":`)

// eventTime reads start_time plus duration_s from a line as AppendNDJSON
// writes it, or returns the zero time.
func eventTime(line []byte) time.Time {
	const startKey, durKey = `,"start_time":"`, `","duration_s":`
	i := bytes.Index(line, []byte(startKey))
	if i < 0 {
		return time.Time{}
	}
	rest := line[i+len(startKey):]
	j := bytes.Index(rest, []byte(durKey))
	if j < 0 {
		return time.Time{}
	}
	start, ok := parseUTCSeconds(rest[:j])
	if !ok {
		var err error
		if start, err = time.Parse(time.RFC3339Nano, string(rest[:j])); err != nil {
			return time.Time{}
		}
	}
	digits := rest[j+len(durKey):]
	n := 0
	for n < len(digits) && digits[n] >= '0' && digits[n] <= '9' {
		n++
	}
	d, err := strconv.ParseUint(string(digits[:n]), 10, 32)
	if err != nil {
		return time.Time{}
	}
	return start.Add(time.Duration(d) * time.Second)
}

// scanIdentity reads record_id and sequence from a line as AppendNDJSON
// writes it (record_id first; no escapes in it), without decoding the
// rest; ok is false for any other line.
func scanIdentity(line []byte) (id string, seq uint32, ok bool) {
	const head = `{"record_id":"`
	if !bytes.HasPrefix(line, []byte(head)) {
		return "", 0, false
	}
	rest := line[len(head):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", 0, false
	}
	id = string(rest[:end])
	const seqKey = `,"sequence":`
	if i := bytes.Index(rest[end:], []byte(seqKey)); i >= 0 {
		digits := rest[end+i+len(seqKey):]
		j := 0
		for j < len(digits) && digits[j] >= '0' && digits[j] <= '9' {
			j++
		}
		v, err := strconv.ParseUint(string(digits[:j]), 10, 32)
		if err != nil {
			return "", 0, false
		}
		seq = uint32(v)
	}
	return id, seq, true
}

// parseUTCSeconds reads "2006-01-02T15:04:05Z", the form AppendNDJSON gives
// a whole-second UTC time (every RADIUS record's), without time.Parse: the
// replay reads one per logged record. ok is false for any other form.
func parseUTCSeconds(b []byte) (time.Time, bool) {
	if len(b) != 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != 'Z' {
		return time.Time{}, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 2)
	d, ok3 := num(8, 2)
	h, ok4 := num(11, 2)
	mi, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if t.Day() != d { // 31 April and the like: time.Date normalises them
		return time.Time{}, false
	}
	return t, true
}
