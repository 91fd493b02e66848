package smpp

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Data codings (SMPP 3.4 §5.2.19).
const (
	codingGSM7 byte = 0x00 // SMSC default alphabet: GSM 03.38, unpacked
	codingUCS2 byte = 0x08 // UCS-2; we send UTF-16BE, surrogate pairs beyond the BMP
)

// Capacities in septets (GSM) or UTF-16 code units (UCS-2): a single
// message, and a part of a concatenated one once the 6-octet user data
// header (concatenation, 8-bit reference) has taken its room.
const (
	gsmSingle  = 160
	gsmPart    = 153
	ucs2Single = 70
	ucs2Part   = 67
	maxParts   = 255 // the concatenation element counts parts in one octet
)

// encodedText is a text encoded and split for submit_sm.
type encodedText struct {
	coding   byte
	payloads [][]byte // without user data header
}

// encodeText picks GSM 7-bit when every character of s fits the default
// alphabet and its extension table, else UCS-2, and splits s into parts
// without ever splitting an escape sequence or a surrogate pair.
func encodeText(s string) (encodedText, error) {
	if !utf8.ValidString(s) {
		return encodedText{}, fmt.Errorf("text is not valid UTF-8")
	}
	gsm := true
	for _, r := range s {
		if gsmSeptets(r) == 0 {
			gsm = false
			break
		}
	}
	var e encodedText
	if gsm {
		e = encodedText{coding: codingGSM7, payloads: split(s, gsmSingle, gsmPart, gsmSeptets, appendGSM7)}
	} else {
		e = encodedText{coding: codingUCS2, payloads: split(s, ucs2Single, ucs2Part, ucs2Units, appendUCS2)}
	}
	if len(e.payloads) > maxParts {
		return encodedText{}, fmt.Errorf("text needs %d parts, more than %d", len(e.payloads), maxParts)
	}
	return e, nil
}

func ucs2Units(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

func appendUCS2(b []byte, s string) []byte {
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

// split cuts s into one payload if it takes at most single units, else into
// payloads of at most part units each; size gives a character's units, so a
// character is never cut.
func split(s string, single, part int, size func(rune) int, enc func([]byte, string) []byte) [][]byte {
	total := 0
	for _, r := range s {
		total += size(r)
	}
	if total <= single {
		return [][]byte{enc(nil, s)}
	}
	var out [][]byte
	start, units := 0, 0
	for i, r := range s {
		n := size(r)
		if units+n > part {
			out = append(out, enc(nil, s[start:i]))
			start, units = i, 0
		}
		units += n
	}
	return append(out, enc(nil, s[start:]))
}

// concatUDH is the user data header of part (1-based) of total, with an
// 8-bit reference (3GPP TS 23.040 §9.2.3.24.1).
func concatUDH(ref byte, part, total int) []byte {
	return []byte{0x05, 0x00, 0x03, ref, byte(total), byte(part)}
}

// decodeText decodes a payload by its data_coding: GSM 7-bit for 0,
// UTF-16BE for 8, Latin-1 for anything else (receipts are ASCII).
func decodeText(coding byte, b []byte) string {
	switch coding {
	case codingGSM7:
		return decodeGSM7(b)
	case codingUCS2:
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		return string(utf16.Decode(u))
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
