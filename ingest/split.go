package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultChunkSize is the chunk size a Splitter uses when given size <= 0.
const DefaultChunkSize = 1 << 20

// MaxRecordBytes is the longest record a Splitter accepts. A longer one
// (usually an unterminated quote swallowing the rest of a file) makes Next
// return ErrRecordTooLong.
const MaxRecordBytes = 1 << 20

// ErrRecordTooLong is returned by Splitter.Next and ReadHeaderLine when one
// record exceeds MaxRecordBytes.
var ErrRecordTooLong = errors.New("record too long")

// Chunk is a run of whole records cut from one source.
type Chunk struct {
	Data      []byte // whole records, each ending in '\n' (the last may lack it at EOF)
	FirstLine int64  // 1-based line number of Data's first line in the source
	Offset    int64  // byte offset of Data in the source
}

// Splitter cuts a stream into chunks of about size bytes without splitting
// a record. Every chunk owns a fresh buffer: callers may keep Data (and
// Items that alias it) as long as they like, and hand chunks to other
// goroutines. A Splitter itself is not safe for concurrent use.
//
// With quoteAware, a record ends at a '\n' outside double quotes, where
// every '"' toggles the quoted state (RFC 4180: a doubled quote toggles
// twice). A stray quote in an unquoted field therefore joins lines until
// the next quote; the parser then rejects that record. Line numbers count
// every '\n', including those inside quoted fields.
type Splitter struct {
	r          io.Reader
	size       int
	quoteAware bool
	comment    byte // a line starting with it is a comment; 0: none

	// With a comment byte, the scan's state at buf[scanned]: inside a
	// comment line, or past the start of a line.
	inComment, midLine bool

	buf      []byte // unconsumed bytes read from r; buf[0] is at offset
	scanned  int    // buf[:scanned] has been scanned for record ends
	inQuote  bool   // quoted state at buf[scanned]
	boundary int    // just past the last record end in buf[:scanned]; 0 if none
	offset   int64  // source offset of buf[0]
	line     int64  // line number of buf[0]
	err      error  // sticky error from r (io.EOF at the end)
}

// NewSplitter returns a Splitter reading r. size <= 0 means DefaultChunkSize.
// quoteAware: a newline inside an RFC 4180 quoted field does not end a
// record (CSV); false for NDJSON and unquoted CSV.
func NewSplitter(r io.Reader, size int, quoteAware bool) *Splitter {
	if size <= 0 {
		size = DefaultChunkSize
	}
	return &Splitter{r: r, size: size, quoteAware: quoteAware, line: 1}
}

// SkipComments makes lines that start with c comments, as the mapped
// parser skips them: a comment ends at its first '\n', whatever quotes it
// holds, and ReadHeaderLine passes over comment lines. Call it before the
// first Next or ReadHeaderLine.
func (s *Splitter) SkipComments(c byte) { s.comment = c }

// Next returns the next chunk of whole records. It returns io.EOF after the
// last chunk, ErrRecordTooLong (wrapped, with the line number) for an
// oversized record, and any other read error as it came, dropping what was
// buffered; errors are sticky.
func (s *Splitter) Next() (Chunk, error) {
	for s.err == nil && (len(s.buf) < s.size || s.boundary == 0) {
		if err := s.fill(); err != nil {
			return Chunk{}, err
		}
	}
	if s.err != nil && s.err != io.EOF {
		return Chunk{}, s.err
	}
	if err := s.checkTail(); err != nil {
		return Chunk{}, err
	}
	n := s.boundary
	if s.err == io.EOF && len(s.buf) <= s.size || n == 0 {
		// At EOF: everything left, including a last record without '\n'.
		n = len(s.buf)
	}
	if n == 0 {
		return Chunk{}, io.EOF
	}
	return s.cut(n), nil
}

// ReadHeaderLine returns the first non-blank record (for CSV headers)
// without its line ending, and leaves the splitter after it. It returns
// io.EOF if the stream holds no such record.
func (s *Splitter) ReadHeaderLine() ([]byte, error) {
	for {
		for s.err == nil && s.boundary == 0 {
			if err := s.fill(); err != nil {
				return nil, err
			}
		}
		if s.err != nil && s.err != io.EOF {
			return nil, s.err
		}
		if err := s.checkTail(); err != nil {
			return nil, err
		}
		if len(s.buf) == 0 {
			return nil, io.EOF
		}
		end := len(s.buf) // at EOF without a record end: the rest
		rest := s.buf
		if s.offset == 0 {
			rest = bytes.TrimPrefix(rest, utf8BOM)
		}
		isComment := s.comment != 0 && len(rest) > 0 && rest[0] == s.comment
		if s.boundary > 0 {
			end = firstRecordEnd(s.buf[:s.boundary], s.quoteAware && !isComment)
		}
		line := trimEOL(s.buf[:end])
		header := bytes.Clone(line)
		s.consume(end)
		// Blank lines, a byte-order mark alone, and comments come before
		// the header.
		if s.offset == int64(end) {
			line = bytes.TrimPrefix(line, utf8BOM)
		}
		if len(bytes.TrimSpace(line)) > 0 && !isComment {
			return header, nil
		}
	}
}

// cut returns buf[:n] as a chunk and moves the rest to a fresh buffer.
func (s *Splitter) cut(n int) Chunk {
	c := Chunk{Data: s.buf[:n:n], FirstLine: s.line, Offset: s.offset}
	rest := s.buf[n:]
	if len(rest) == 0 && s.err != nil {
		s.buf = nil // nothing more will be read
	} else {
		s.buf = make([]byte, len(rest), max(s.size, 2*len(rest)))
		copy(s.buf, rest)
	}
	s.advance(n, c.Data)
	return c
}

// consume drops buf[:n] without giving it away (the header line).
func (s *Splitter) consume(n int) {
	dropped := s.buf[:n]
	s.buf = s.buf[n:]
	s.advance(n, dropped)
}

func (s *Splitter) advance(n int, dropped []byte) {
	s.offset += int64(n)
	s.line += int64(bytes.Count(dropped, []byte{'\n'}))
	s.scanned -= n
	s.boundary = max(s.boundary-n, 0)
}

// fill reads more input into buf, growing it when full, and scans it.
// It returns a non-nil error only for an oversized record; read errors
// (io.EOF included) are kept in s.err.
func (s *Splitter) fill() error {
	if err := s.checkTail(); err != nil {
		return err
	}
	if len(s.buf) == cap(s.buf) {
		grown := make([]byte, len(s.buf), max(s.size, 2*cap(s.buf)))
		copy(grown, s.buf)
		s.buf = grown
	}
	for empty := 0; ; empty++ {
		n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if err != nil {
			s.err = err
			break
		}
		if n > 0 {
			break
		}
		if empty == 100 {
			s.err = io.ErrNoProgress
			break
		}
	}
	s.scan()
	return nil
}

// checkTail fails when the unfinished record after the last record end is
// longer than MaxRecordBytes.
func (s *Splitter) checkTail() error {
	if len(s.buf)-s.boundary <= MaxRecordBytes {
		return nil
	}
	line := s.line + int64(bytes.Count(s.buf[:s.boundary], []byte{'\n'}))
	s.err = fmt.Errorf("line %d: %w (over %d bytes)", line, ErrRecordTooLong, MaxRecordBytes)
	return s.err
}

// scan finds record ends in buf[scanned:].
func (s *Splitter) scan() {
	data := s.buf
	pos := s.scanned
	if !s.quoteAware {
		if i := bytes.LastIndexByte(data[pos:], '\n'); i >= 0 {
			s.boundary = pos + i + 1
		}
		s.scanned = len(data)
		return
	}
	if s.comment != 0 {
		s.scanWithComments()
		return
	}
	for pos < len(data) {
		q := bytes.IndexByte(data[pos:], '"')
		end := len(data)
		if q >= 0 {
			end = pos + q
		}
		if !s.inQuote {
			if i := bytes.LastIndexByte(data[pos:end], '\n'); i >= 0 {
				s.boundary = pos + i + 1
			}
		}
		if q < 0 {
			break
		}
		s.inQuote = !s.inQuote
		pos = end + 1
	}
	s.scanned = len(data)
}

// scanWithComments is scan for a quote-aware stream with comment lines: a
// quote in a comment toggles nothing. Byte by byte; only mapped feeds that
// declare a comment byte take this path.
func (s *Splitter) scanWithComments() {
	data := s.buf
	pos := s.scanned
	if s.offset == 0 && pos == 0 && bytes.HasPrefix(data, utf8BOM) {
		pos = len(utf8BOM) // the file's byte-order mark starts no line
	}
	for ; pos < len(data); pos++ {
		c := data[pos]
		switch {
		case s.inComment:
			if c == '\n' {
				s.inComment, s.midLine, s.boundary = false, false, pos+1
			}
			continue
		case s.inQuote:
			s.inQuote = c != '"'
		case c == '"':
			s.inQuote = true
		case c == '\n':
			s.midLine, s.boundary = false, pos+1
			continue
		case !s.midLine && c == s.comment:
			s.inComment = true
		}
		s.midLine = true
	}
	s.scanned = len(data)
}

// firstRecordEnd returns the index just past the first record end in data,
// or len(data) if there is none.
func firstRecordEnd(data []byte, quoteAware bool) int {
	inQuote := false
	for i, c := range data {
		switch {
		case c == '"' && quoteAware:
			inQuote = !inQuote
		case c == '\n' && !inQuote:
			return i + 1
		}
	}
	return len(data)
}

// trimEOL removes a trailing "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
