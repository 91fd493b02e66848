package ber

import (
	"errors"
	"fmt"
)

// Errors returned (wrapped) for malformed input; match with errors.Is.
var (
	ErrTruncated         = errors.New("truncated input")
	ErrMalformed         = errors.New("malformed BER")
	ErrUnsupportedRecord = errors.New("unsupported record type")
	ErrMissingField      = errors.New("missing mandatory field")
	ErrBadField          = errors.New("bad field value")
)

const (
	classUniversal = 0x00
	classContext   = 0x80
	maxDepth       = 32
)

// tlv is one BER element. content is a sub-slice of the input; for an
// indefinite length it excludes the end-of-contents octets.
type tlv struct {
	class       byte
	constructed bool
	tag         uint32
	content     []byte
	contentOff  int // offset of content relative to the element start
	total       int // bytes the element occupies, header and EOC included
}

// parseHeader reads identifier and length octets. length is -1 for the
// indefinite form. It never trusts the length beyond returning it.
func parseHeader(b []byte) (class byte, constructed bool, tag uint32, length int, hdr int, err error) {
	if len(b) < 2 {
		return 0, false, 0, 0, 0, ErrTruncated
	}
	class = b[0] & 0xC0
	constructed = b[0]&0x20 != 0
	tag = uint32(b[0] & 0x1F)
	i := 1
	if tag == 0x1F {
		tag = 0
		for {
			if i >= len(b) {
				return 0, false, 0, 0, 0, ErrTruncated
			}
			c := b[i]
			i++
			if tag > 1<<21 {
				return 0, false, 0, 0, 0, fmt.Errorf("%w: tag number too large", ErrMalformed)
			}
			tag = tag<<7 | uint32(c&0x7F)
			if c&0x80 == 0 {
				break
			}
		}
	}
	if i >= len(b) {
		return 0, false, 0, 0, 0, ErrTruncated
	}
	l := b[i]
	i++
	switch {
	case l < 0x80:
		length = int(l)
	case l == 0x80:
		if !constructed {
			return 0, false, 0, 0, 0, fmt.Errorf("%w: indefinite length on primitive", ErrMalformed)
		}
		length = -1
	case l == 0xFF:
		return 0, false, 0, 0, 0, fmt.Errorf("%w: reserved length octet", ErrMalformed)
	default:
		n := int(l & 0x7F)
		if n > 4 {
			return 0, false, 0, 0, 0, fmt.Errorf("%w: length of %d octets", ErrMalformed, n)
		}
		if i+n > len(b) {
			return 0, false, 0, 0, 0, ErrTruncated
		}
		for _, c := range b[i : i+n] {
			length = length<<8 | int(c)
		}
		i += n
	}
	return class, constructed, tag, length, i, nil
}

// readTLV reads the element at the start of b. Lengths are checked against
// len(b) before use; indefinite lengths are resolved by walking the
// children, at most maxDepth levels deep.
func readTLV(b []byte, depth int) (tlv, error) {
	class, cons, tag, length, hdr, err := parseHeader(b)
	if err != nil {
		return tlv{}, err
	}
	t := tlv{class: class, constructed: cons, tag: tag, contentOff: hdr}
	if length >= 0 {
		if length > len(b)-hdr {
			return tlv{}, ErrTruncated
		}
		t.content = b[hdr : hdr+length]
		t.total = hdr + length
		return t, nil
	}
	if depth >= maxDepth {
		return tlv{}, fmt.Errorf("%w: nesting deeper than %d", ErrMalformed, maxDepth)
	}
	i := hdr
	for {
		if len(b)-i < 2 {
			return tlv{}, ErrTruncated
		}
		if b[i] == 0 && b[i+1] == 0 {
			t.content = b[hdr:i]
			t.total = i + 2
			return t, nil
		}
		c, err := readTLV(b[i:], depth+1)
		if err != nil {
			return tlv{}, err
		}
		i += c.total
	}
}

// iter walks the elements of a constructed content.
type iter struct {
	b     []byte
	i     int
	base  int // offset of b[0] within the record, for error messages
	depth int
}

// next returns the next element and its offset within the record; ok is
// false at the end of the content.
func (it *iter) next() (t tlv, off int, ok bool, err error) {
	if it.i >= len(it.b) {
		return tlv{}, 0, false, nil
	}
	off = it.base + it.i
	t, err = readTLV(it.b[it.i:], it.depth)
	if err != nil {
		return tlv{}, off, false, fmt.Errorf("element at byte %d: %w", off, err)
	}
	it.i += t.total
	return t, off, true, nil
}

// children returns an iterator over the content of the constructed element
// t found at offset off.
func children(t tlv, off, depth int) iter {
	return iter{b: t.content, base: off + t.contentOff, depth: depth + 1}
}
