package ber

import (
	"errors"
	"fmt"
	"io"
)

// DefaultMaxRecordSize bounds one bare BER record in a Decoder. TS 32.297
// CDR lengths are 16-bit, so files never need more.
const DefaultMaxRecordSize = 1 << 20

// ErrTooLarge is wrapped by a RecordError for a bare record longer than the
// Decoder's limit.
var ErrTooLarge = errors.New("record too large")

// RecordError reports a record that could not be decoded. Next continues
// with the following record after returning it.
type RecordError struct {
	Offset int64 // byte offset of the record in the input
	Err    error
}

// Error implements error.
func (e *RecordError) Error() string {
	return fmt.Sprintf("cdr at byte %d: %v", e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

const (
	modeUnknown = iota
	modeBare
	modeFile
	minFileHeader = 8 // file length and header length
	// maxFileHeader bounds a plausible TS 32.297 file header (about 50
	// octets with a few optional fields), to tell a file from bare records.
	maxFileHeader = 64 << 10
	cdrHeaderLen  = 4 // CDR length, release/version, format/TS number
	readChunk     = 16 << 10
	berFormat     = 1 // TS 32.297 data record format: BER
)

// Decoder reads PGW-CDRs and SGW-CDRs from a TS 32.297 CDR file or from
// bare concatenated BER records.
type Decoder struct {
	r       io.Reader
	buf     []byte
	start   int   // first unread byte in buf
	end     int   // end of valid data in buf
	off     int64 // input offset of buf[start]
	eof     bool
	readErr error
	mode    int
	fatal   error
	max     int
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: r, max: DefaultMaxRecordSize}
}

// Next returns the next CDR. It returns a *RecordError for a record that
// cannot be decoded, after which Next may be called again; io.EOF at the end
// of input; any other error (a read error or a corrupt file header) is final
// and returned again by every later call.
func (d *Decoder) Next() (CDR, error) {
	if d.fatal != nil {
		return CDR{}, d.fatal
	}
	if d.mode == modeUnknown {
		if err := d.detect(); err != nil {
			d.fatal = err
			return CDR{}, err
		}
	}
	var (
		c   CDR
		err error
	)
	if d.mode == modeFile {
		c, err = d.nextInFile()
	} else {
		c, err = d.nextBare()
	}
	var re *RecordError
	if err != nil && !errors.As(err, &re) {
		d.fatal = err
	}
	return c, err
}

// detect tells a TS 32.297 file from bare records and skips a file header.
func (d *Decoder) detect() error {
	n := d.fill(minFileHeader)
	if n == 0 {
		return d.endErr()
	}
	first := d.buf[d.start]
	if first == 0xBF {
		d.mode = modeBare
		return nil
	}
	// Another context-class constructed tag (another GPRSRecord choice, an
	// sgsnPDPRecord say) starts bare records too, unless the bytes read as
	// a plausible file header (a file of 2.7 GB or more starts with such a
	// byte).
	h := d.buf[d.start : d.start+n]
	var hlen int64
	if n >= minFileHeader {
		hlen = int64(h[4])<<24 | int64(h[5])<<16 | int64(h[6])<<8 | int64(h[7])
	}
	if first&0xE0 == 0xA0 && (hlen < minFileHeader || hlen > maxFileHeader) {
		d.mode = modeBare
		return nil
	}
	if n < minFileHeader {
		return fmt.Errorf("cdr file header: %w", ErrTruncated)
	}
	if hlen < minFileHeader {
		return fmt.Errorf("cdr file header length %d: %w", hlen, ErrMalformed)
	}
	d.mode = modeFile
	return d.skip(hlen)
}

// nextInFile reads one CDR header and the record it frames.
func (d *Decoder) nextInFile() (CDR, error) {
	n := d.fill(cdrHeaderLen)
	if n == 0 {
		return CDR{}, d.endErr()
	}
	at := d.off
	if n < cdrHeaderLen {
		d.discard(n)
		return CDR{}, &RecordError{Offset: at, Err: fmt.Errorf("cdr header: %w", ErrTruncated)}
	}
	h := d.buf[d.start:]
	length := int(h[0])<<8 | int(h[1])
	hdr := cdrHeaderLen
	if h[2]>>5 == 7 { // release identifier 7: extension octet follows
		hdr++
	}
	format := h[3] >> 5
	total := hdr + length
	if n = d.fill(total); n < total {
		d.discard(n)
		return CDR{}, &RecordError{Offset: at, Err: fmt.Errorf("cdr of %d octets: %w", length, ErrTruncated)}
	}
	rec := d.buf[d.start+hdr : d.start+total]
	d.discard(total)
	if format != berFormat {
		return CDR{}, &RecordError{Offset: at, Err: fmt.Errorf("%w: data record format %d", ErrUnsupportedRecord, format)}
	}
	c, err := DecodeRecord(rec)
	if err != nil {
		return CDR{}, &RecordError{Offset: at, Err: err}
	}
	c.Offset = at
	return c, nil
}

// nextBare reads one bare GPRSRecord.
func (d *Decoder) nextBare() (CDR, error) {
	n := d.fill(16)
	if n == 0 {
		return CDR{}, d.endErr()
	}
	at := d.off
	b := d.buf[d.start : d.start+n]
	class, cons, tag, length, hdr, err := parseHeader(b)
	if err == nil && (class != classContext || !cons || tag > 127) {
		err = fmt.Errorf("%w: not a GPRSRecord (class %#x tag %d)", ErrMalformed, class, tag)
	}
	if err == nil && length > d.max-hdr {
		err = fmt.Errorf("%w: %d octets", ErrTooLarge, length)
	}
	if err != nil {
		if errors.Is(err, ErrTruncated) && d.eof {
			d.discard(n)
		} else {
			d.resync()
		}
		return CDR{}, &RecordError{Offset: at, Err: err}
	}
	var total int
	if length >= 0 {
		total = hdr + length
		if n = d.fill(total); n < total {
			// The stream ends inside the record, or its length is wrong
			// and the records after it are in what it claims: look for
			// them (at the true end, resync finds nothing).
			d.resync()
			return CDR{}, &RecordError{Offset: at, Err: ErrTruncated}
		}
		if !membersFit(d.buf[d.start : d.start+total]) {
			// Its members do not tile its length: the length is wrong,
			// and skipping it would swallow what follows.
			d.resync()
			return CDR{}, &RecordError{Offset: at, Err: fmt.Errorf("%w: members do not fit the record's length", ErrMalformed)}
		}
	} else {
		// Indefinite length: read until the element is complete.
		for want := 2 * n; ; want *= 2 {
			t, err := readTLV(d.buf[d.start:d.start+n], 0)
			if err == nil {
				total = t.total
				break
			}
			if !errors.Is(err, ErrTruncated) || d.eof || n >= d.max {
				// At the end of the stream too: the record may be cut
				// short, or a length inside it may be wrong with whole
				// records after it. resync finds those, if any.
				d.resync()
				return CDR{}, &RecordError{Offset: at, Err: err}
			}
			n = d.fill(min(want, d.max))
		}
	}
	rec := d.buf[d.start : d.start+total]
	d.discard(total)
	c, err := DecodeRecord(rec)
	if err != nil {
		return CDR{}, &RecordError{Offset: at, Err: err}
	}
	c.Offset = at
	return c, nil
}

// membersFit reports whether the elements inside rec, a whole definite
// length element, exactly fill its content.
func membersFit(rec []byte) bool {
	t, err := readTLV(rec, 0)
	if err != nil {
		return false
	}
	if !t.constructed {
		return true
	}
	it := children(t, 0, 0)
	for {
		_, _, ok, err := it.next()
		if err != nil {
			return false
		}
		if !ok {
			return true
		}
	}
}

// resync drops the byte at the current position and everything up to the
// next BF 4E or BF 4F pair, the start of an sgwRecord or pgwRecord.
func (d *Decoder) resync() {
	d.discard(1)
	for {
		n := d.fill(2)
		if n < 2 {
			d.discard(n)
			return
		}
		b := d.buf[d.start : d.start+n]
		for i := 0; i+1 < len(b); i++ {
			if b[i] == 0xBF && (b[i+1] == tagSGWRecord || b[i+1] == tagPGWRecord) {
				d.discard(i)
				return
			}
		}
		d.discard(n - 1)
		if d.eof {
			d.discard(1)
			return
		}
		d.fill(n) // pull more data: only one byte is left buffered
	}
}

// fill tries to buffer at least n bytes and returns how many are buffered.
// The buffer grows by at most doubling per read, so a length field cannot
// make it much larger than the data that actually arrives.
func (d *Decoder) fill(n int) int {
	for d.end-d.start < n && !d.eof {
		if d.start > 0 {
			d.end = copy(d.buf, d.buf[d.start:d.end])
			d.start = 0
		}
		if d.end == len(d.buf) {
			nb := make([]byte, max(readChunk, 2*len(d.buf)))
			copy(nb, d.buf[:d.end])
			d.buf = nb
		}
		m, err := d.r.Read(d.buf[d.end:])
		d.end += m
		if err != nil {
			d.eof = true
			if err != io.EOF {
				d.readErr = err
			}
		}
	}
	return d.end - d.start
}

// discard consumes n buffered bytes.
func (d *Decoder) discard(n int) {
	d.start += n
	d.off += int64(n)
}

// skip consumes n bytes of input, buffered or not.
func (d *Decoder) skip(n int64) error {
	for n > 0 {
		m := d.fill(1)
		if m == 0 {
			if d.readErr != nil {
				return d.readErr
			}
			return fmt.Errorf("cdr file header: %w", ErrTruncated)
		}
		k := int(min(int64(m), n))
		d.discard(k)
		n -= int64(k)
	}
	return nil
}

func (d *Decoder) endErr() error {
	if d.readErr != nil {
		return d.readErr
	}
	return io.EOF
}
