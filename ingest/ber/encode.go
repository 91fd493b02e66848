package ber

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// Volume is one container's uplink and downlink byte counts.
type Volume struct {
	Up, Down uint64
}

// CDRFields describes a record for Encode. Zero values are omitted except
// where a comment says otherwise.
type CDRFields struct {
	SGW          bool // sgwRecord [78] instead of pgwRecord [79]
	IMSI         string
	MSISDN       string // encoded with the 0x91 address header unless NoMSISDNHeader
	IMEISV       string
	APN          string
	MCCMNC       string
	RATType      uint8
	OpeningTime  time.Time // always encoded, in the zone below
	UTCOffsetMin int       // offset of the encoded local time from UTC, minutes
	Duration     uint32    // always encoded
	Cause        uint8     // always encoded
	ChargingID   uint32    // always encoded
	Gateway      netip.Addr
	NodeID       string
	LocalSeq     *uint32
	RecordSeq    *uint32
	Traffic      []Volume // listOfTrafficVolumes, omitted when nil
	Services     []Volume // listOfServiceData (PGW only), omitted when nil
	// Extra holds raw encoded elements appended inside the record (vendor tags).
	Extra []byte
	// Indefinite uses the indefinite length form for constructed elements.
	Indefinite     bool
	NoMSISDNHeader bool
}

// Encode returns f as a BER GPRSRecord. It is meant for tests and
// benchmarks; it does not validate f.
func Encode(f CDRFields) []byte {
	e := encoder{indef: f.Indefinite}
	var body []byte
	ctx := func(tag uint32, v []byte) { body = e.prim(body, tag, v) }
	if f.IMSI != "" {
		ctx(tagServedIMSI, tbcdBytes(f.IMSI))
	}
	if f.Gateway.IsValid() {
		choice := uint32(0)
		if f.Gateway.Is6() {
			choice = 1
		}
		body = e.cons(body, tagGatewayAddress, e.prim(nil, choice, f.Gateway.AsSlice()))
	}
	ctx(tagChargingID, intBytes(uint64(f.ChargingID)))
	if f.APN != "" {
		ctx(tagAPNNI, []byte(f.APN))
	}
	if f.Traffic != nil {
		body = e.cons(body, tagTrafficVolumes, e.list(f.Traffic, tagVolUpGPRS, tagVolDownGPRS))
	}
	ctx(tagOpeningTime, timeBytes(f.OpeningTime, f.UTCOffsetMin))
	ctx(tagDuration, intBytes(uint64(f.Duration)))
	ctx(tagCause, intBytes(uint64(f.Cause)))
	if f.RecordSeq != nil {
		ctx(tagRecordSequence, intBytes(uint64(*f.RecordSeq)))
	}
	if f.NodeID != "" {
		ctx(tagNodeID, []byte(f.NodeID))
	}
	if f.LocalSeq != nil {
		ctx(tagLocalSequence, intBytes(uint64(*f.LocalSeq)))
	}
	if f.MSISDN != "" {
		v := tbcdBytes(f.MSISDN)
		if !f.NoMSISDNHeader {
			v = append([]byte{0x91}, v...)
		}
		ctx(tagServedMSISDN, v)
	}
	if f.MCCMNC != "" {
		ctx(tagServingNodePLMN, plmnBytes(f.MCCMNC))
	}
	if f.IMEISV != "" {
		ctx(tagServedIMEI, tbcdBytes(f.IMEISV))
	}
	if f.RATType != 0 {
		ctx(tagRATType, intBytes(uint64(f.RATType)))
	}
	if f.Services != nil && !f.SGW {
		body = e.cons(body, tagServiceData, e.list(f.Services, tagVolUpFBC, tagVolDownFBC))
	}
	body = append(body, f.Extra...)
	tag := uint32(tagPGWRecord)
	if f.SGW {
		tag = tagSGWRecord
	}
	return e.cons(nil, tag, body)
}

// EncodeFile wraps BER records in a TS 32.297 CDR file: a minimal file
// header and a 4-octet CDR header (release 15 is written as release
// identifier 7 with an extension octet) before each record.
func EncodeFile(records ...[]byte) []byte {
	// lengths 4+4, releases 1+1, timestamps 4+4, count 4, sequence 4,
	// closure reason 1, node address 20, lost CDRs 1, filter and private
	// extension lengths 2+2, release extensions 1+1.
	const hdrLen = 54
	out := make([]byte, hdrLen)
	binary.BigEndian.PutUint32(out[4:], hdrLen)
	out[8], out[9] = 7<<5, 7<<5
	binary.BigEndian.PutUint32(out[18:], uint32(len(records)))
	out[52], out[53] = 15-10, 15-10
	for _, r := range records {
		out = binary.BigEndian.AppendUint16(out, uint16(len(r)))
		out = append(out, 7<<5, berFormat<<5|7, 15-10) // release 7+ext, BER, TS 32.251
		out = append(out, r...)
	}
	binary.BigEndian.PutUint32(out[0:], uint32(len(out)))
	return out
}

type encoder struct{ indef bool }

func appendHeader(b []byte, class byte, tag uint32, length int) []byte {
	if tag < 31 {
		b = append(b, class|byte(tag))
	} else {
		b = append(b, class|0x1F)
		var t [5]byte
		i := len(t)
		for {
			i--
			t[i] = byte(tag & 0x7F)
			if i < len(t)-1 {
				t[i] |= 0x80
			}
			tag >>= 7
			if tag == 0 {
				break
			}
		}
		b = append(b, t[i:]...)
	}
	switch {
	case length < 0:
		return append(b, 0x80)
	case length < 0x80:
		return append(b, byte(length))
	case length < 0x100:
		return append(b, 0x81, byte(length))
	case length < 0x10000:
		return append(b, 0x82, byte(length>>8), byte(length))
	}
	return append(b, 0x84, byte(length>>24), byte(length>>16), byte(length>>8), byte(length))
}

func (e encoder) prim(b []byte, tag uint32, v []byte) []byte {
	return append(appendHeader(b, classContext, tag, len(v)), v...)
}

func (e encoder) consClass(b []byte, class byte, tag uint32, v []byte) []byte {
	if e.indef {
		b = appendHeader(b, class|0x20, tag, -1)
		return append(append(b, v...), 0, 0)
	}
	return append(appendHeader(b, class|0x20, tag, len(v)), v...)
}

func (e encoder) cons(b []byte, tag uint32, v []byte) []byte {
	return e.consClass(b, classContext, tag, v)
}

func (e encoder) list(vs []Volume, upTag, downTag uint32) []byte {
	var out []byte
	for _, v := range vs {
		var c []byte
		c = e.prim(c, upTag, intBytes(v.Up))
		c = e.prim(c, downTag, intBytes(v.Down))
		out = e.consClass(out, classUniversal, 16, c) // SEQUENCE
	}
	return out
}

// intBytes is the minimal BER INTEGER encoding of a non-negative value.
func intBytes(n uint64) []byte {
	var b [9]byte
	i := len(b)
	for {
		i--
		b[i] = byte(n)
		n >>= 8
		if n == 0 {
			break
		}
	}
	if b[i]&0x80 != 0 {
		i--
		b[i] = 0
	}
	return append([]byte(nil), b[i:]...)
}

func tbcdBytes(s string) []byte {
	out := make([]byte, (len(s)+1)/2)
	for i := range out {
		lo := s[2*i] - '0'
		hi := byte(0x0F)
		if 2*i+1 < len(s) {
			hi = s[2*i+1] - '0'
		}
		out[i] = hi<<4 | lo
	}
	return out
}

func plmnBytes(s string) []byte {
	d := func(i int) byte {
		if i < len(s) {
			return s[i] - '0'
		}
		return 0x0F
	}
	return []byte{d(1)<<4 | d(0), d(5)<<4 | d(2), d(4)<<4 | d(3)}
}

func timeBytes(t time.Time, offsetMin int) []byte {
	local := t.UTC().Add(time.Duration(offsetMin) * time.Minute)
	bcd := func(n int) byte { return byte(n/10)<<4 | byte(n%10) }
	sign := byte('+')
	if offsetMin < 0 {
		sign, offsetMin = '-', -offsetMin
	}
	return []byte{
		bcd(local.Year() % 100), bcd(int(local.Month())), bcd(local.Day()),
		bcd(local.Hour()), bcd(local.Minute()), bcd(local.Second()),
		sign, bcd(offsetMin / 60), bcd(offsetMin % 60),
	}
}
