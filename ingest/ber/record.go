package ber

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/simcore/simcore/metering"
)

// GPRSRecord CHOICE alternatives handled here (TS 32.298).
const (
	tagSGWRecord = 78
	tagPGWRecord = 79
)

// Member tags of SGWRecord and PGWRecord (TS 32.298).
const (
	tagServedIMSI      = 3
	tagGatewayAddress  = 4 // p-GWAddress or s-GWAddress
	tagChargingID      = 5
	tagAPNNI           = 7
	tagTrafficVolumes  = 12
	tagOpeningTime     = 13
	tagDuration        = 14
	tagCause           = 15
	tagRecordSequence  = 17
	tagNodeID          = 18
	tagLocalSequence   = 20
	tagServedMSISDN    = 22
	tagServingNodePLMN = 27
	tagServedIMEI      = 29
	tagRATType         = 30
	tagServiceData     = 34 // PGW-CDR only; sGWChange in the SGW-CDR
	tagVolUpGPRS       = 3  // ChangeOfCharCondition
	tagVolDownGPRS     = 4
	tagVolUpFBC        = 12 // ChangeOfServiceCondition
	tagVolDownFBC      = 13
	maxTBCDOctets      = 16
	maxTextOctets      = 255
	timeStampOctets    = 9
)

// CDR is one decoded PGW-CDR or SGW-CDR. Its Record carries chargingID
// and the gateway address [4] (p-GWAddress in a PGW-CDR, s-GWAddress in an
// SGW-CDR) as ChargingID and PGWAddress: the partial records of one bearer
// share them.
type CDR struct {
	Record metering.Record
	// IMEISV is servedIMEI [29] in digits; metering.Record has no field for it.
	IMEISV string
	// SGW is true for an SGW-CDR, false for a PGW-CDR.
	SGW bool
	// Offset is the byte offset of the record in the Decoder's input (of the
	// CDR header inside a TS 32.297 file); 0 from DecodeRecord.
	Offset int64
}

// DecodeRecord decodes one GPRSRecord (sgwRecord [78] or pgwRecord [79])
// at the start of b; trailing bytes are ignored. It returns an error
// wrapping ErrTruncated, ErrMalformed, ErrUnsupportedRecord,
// ErrMissingField or ErrBadField, with the byte offset of the fault.
func DecodeRecord(b []byte) (CDR, error) {
	t, err := readTLV(b, 0)
	if err != nil {
		return CDR{}, fmt.Errorf("record at byte 0: %w", err)
	}
	if t.class != classContext || !t.constructed || (t.tag != tagSGWRecord && t.tag != tagPGWRecord) {
		return CDR{}, fmt.Errorf("%w: class %#x tag %d", ErrUnsupportedRecord, t.class, t.tag)
	}
	var (
		c                CDR
		r                = &c.Record
		have             uint64 // bit per tag seen
		localSeq, recSeq uint32
		traffic          bool
		tUp, tDown       uint64
		sUp, sDown       uint64
		nodeID           string
		fieldErr         error
	)
	c.SGW = t.tag == tagSGWRecord
	r.Type = metering.TypeData
	it := children(t, 0, 0)
	for {
		f, off, ok, err := it.next()
		if err != nil {
			return CDR{}, err
		}
		if !ok {
			break
		}
		if f.class != classContext {
			continue
		}
		v := f.content
		switch f.tag {
		case tagServedIMSI:
			r.IMSI, fieldErr = tbcd(v, false)
		case tagGatewayAddress:
			r.PGWAddress, fieldErr = gsnAddress(f, off)
		case tagChargingID:
			r.ChargingID, fieldErr = uint32Of(v)
		case tagAPNNI:
			r.APN, fieldErr = text(v)
		case tagTrafficVolumes:
			traffic = true
			tUp, tDown, fieldErr = volumes(f, off, tagVolUpGPRS, tagVolDownGPRS)
		case tagOpeningTime:
			r.StartTime, fieldErr = timeStamp(v)
		case tagDuration:
			r.DurationS, fieldErr = quantity32(v)
		case tagCause:
			var n uint32
			n, fieldErr = uint32Of(v)
			if fieldErr == nil && n > 255 {
				fieldErr = fmt.Errorf("%w: cause %d", ErrBadField, n)
			}
			r.ClosingCause = uint8(n)
		case tagRecordSequence:
			recSeq, fieldErr = uint32Of(v)
		case tagNodeID:
			nodeID, fieldErr = text(v)
		case tagLocalSequence:
			localSeq, fieldErr = uint32Of(v)
		case tagServedMSISDN:
			r.MSISDN, fieldErr = tbcd(v, true)
		case tagServingNodePLMN:
			r.MCCMNC, fieldErr = plmn(v)
		case tagServedIMEI:
			c.IMEISV, fieldErr = tbcd(v, false)
		case tagRATType:
			var n uint32
			n, fieldErr = uint32Of(v)
			if fieldErr == nil && n > 255 {
				fieldErr = fmt.Errorf("%w: rATType %d", ErrBadField, n)
			}
			r.RAT = ratName(n)
		case tagServiceData:
			if c.SGW {
				continue
			}
			sUp, sDown, fieldErr = volumes(f, off, tagVolUpFBC, tagVolDownFBC)
		default:
			continue
		}
		if fieldErr != nil {
			return CDR{}, fmt.Errorf("field [%d] at byte %d: %w", f.tag, off, fieldErr)
		}
		if f.tag < 64 {
			have |= 1 << f.tag
		}
	}
	for _, tag := range [...]uint32{tagGatewayAddress, tagChargingID, tagOpeningTime} {
		if have&(1<<tag) == 0 {
			return CDR{}, fmt.Errorf("%w: [%d]", ErrMissingField, tag)
		}
	}
	if traffic {
		r.BytesUp, r.BytesDown = tUp, tDown
	} else {
		r.BytesUp, r.BytesDown = sUp, sDown
	}
	r.Sequence = recSeq
	if have&(1<<tagLocalSequence) != 0 {
		r.NodeID = nodeID
		if r.NodeID == "" {
			r.NodeID = r.PGWAddress
		}
		r.RecordID = strconv.FormatUint(uint64(localSeq), 10)
	} else {
		r.NodeID = r.PGWAddress
		r.RecordID = strconv.FormatUint(uint64(r.ChargingID), 10) + "/" + strconv.FormatUint(uint64(recSeq), 10)
	}
	return c, nil
}

// volumes sums the uplink and downlink counters of every container in a
// SEQUENCE OF ChangeOfCharCondition or ChangeOfServiceCondition.
func volumes(list tlv, off int, upTag, downTag uint32) (up, down uint64, err error) {
	if !list.constructed {
		return 0, 0, fmt.Errorf("%w: primitive list", ErrMalformed)
	}
	it := children(list, off, 0)
	for {
		c, coff, ok, err := it.next()
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			return up, down, nil
		}
		if !c.constructed {
			continue
		}
		cit := children(c, coff, 1)
		for {
			f, _, ok, err := cit.next()
			if err != nil {
				return 0, 0, err
			}
			if !ok {
				break
			}
			if f.class != classContext || (f.tag != upTag && f.tag != downTag) {
				continue
			}
			n, err := quantity(f.content, 8)
			if err != nil {
				return 0, 0, err
			}
			sum := &down
			if f.tag == upTag {
				sum = &up
			}
			if *sum+n < n {
				return 0, 0, fmt.Errorf("%w: volumes sum past 2^64", ErrBadField)
			}
			*sum += n
		}
	}
}

// uintOf reads an INTEGER as an unsigned big-endian value of at most max
// octets after leading zero octets. Identifiers (chargingID, sequence
// numbers) are read this way whatever the sign bit: an identifier is
// compared, never summed, and a sign-less four-octet chargingID stays the
// same identifier.
func uintOf(v []byte, max int) (uint64, error) {
	if len(v) == 0 {
		return 0, fmt.Errorf("%w: empty integer", ErrBadField)
	}
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) > max {
		return 0, fmt.Errorf("%w: integer of %d octets", ErrBadField, len(v))
	}
	var n uint64
	for _, c := range v {
		n = n<<8 | uint64(c)
	}
	return n, nil
}

// quantity reads an INTEGER that counts something (octets, seconds) of
// at most max octets after leading zero octets. BER integers are two's
// complement: a first octet with its top bit set is a negative number,
// which is an error here, never read as a large count.
func quantity(v []byte, max int) (uint64, error) {
	if len(v) > 0 && v[0]&0x80 != 0 {
		return 0, fmt.Errorf("%w: negative integer", ErrBadField)
	}
	return uintOf(v, max)
}

func quantity32(v []byte) (uint32, error) {
	n, err := quantity(v, 4)
	return uint32(n), err
}

func uint32Of(v []byte) (uint32, error) {
	n, err := uintOf(v, 4)
	return uint32(n), err
}

// text returns an IA5String as a Go string; control and non-ASCII octets
// are rejected.
func text(v []byte) (string, error) {
	if len(v) > maxTextOctets {
		return "", fmt.Errorf("%w: string of %d octets", ErrBadField, len(v))
	}
	for _, c := range v {
		if c < 0x20 || c > 0x7E {
			return "", fmt.Errorf("%w: octet %#x in string", ErrBadField, c)
		}
	}
	return string(v), nil
}

// tbcd decodes TBCD digits (low nibble first, 0xF filler only at the end).
// With header set, a first octet with bit 8 set is an address-string
// type-of-number header and is dropped.
func tbcd(v []byte, header bool) (string, error) {
	if header && len(v) > 0 && v[0]&0x80 != 0 {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > maxTBCDOctets {
		return "", fmt.Errorf("%w: TBCD of %d octets", ErrBadField, len(v))
	}
	var buf [2 * maxTBCDOctets]byte
	n := 0
	filler := false
	for _, c := range v {
		for _, d := range [2]byte{c & 0x0F, c >> 4} {
			switch {
			case d == 0x0F:
				filler = true
			case filler || d > 9:
				return "", fmt.Errorf("%w: TBCD nibble %#x", ErrBadField, d)
			default:
				buf[n] = '0' + d
				n++
			}
		}
	}
	if n == 0 {
		return "", fmt.Errorf("%w: TBCD without digits", ErrBadField)
	}
	return string(buf[:n]), nil
}

// plmn turns a 3-octet PLMN-Id into MCC and MNC digits ("23415", "310260").
func plmn(v []byte) (string, error) {
	if len(v) != 3 {
		return "", fmt.Errorf("%w: PLMN-Id of %d octets", ErrBadField, len(v))
	}
	d := [6]byte{v[0] & 0x0F, v[0] >> 4, v[1] & 0x0F, v[2] & 0x0F, v[2] >> 4, v[1] >> 4}
	n := 6
	if d[5] == 0x0F {
		n = 5
	}
	var buf [6]byte
	for i := 0; i < n; i++ {
		if d[i] > 9 {
			return "", fmt.Errorf("%w: PLMN-Id digit %#x", ErrBadField, d[i])
		}
		buf[i] = '0' + d[i]
	}
	return string(buf[:n]), nil
}

// timeStamp decodes a TS 32.298 TimeStamp: BCD YYMMDDhhmmss, a sign octet
// ('+' or '-') and BCD hhmm offset from UTC. The result is in UTC.
func timeStamp(v []byte) (time.Time, error) {
	if len(v) != timeStampOctets {
		return time.Time{}, fmt.Errorf("%w: TimeStamp of %d octets", ErrBadField, len(v))
	}
	var f [8]int
	for i, j := 0, 0; i < 9; i++ {
		if i == 6 {
			continue
		}
		hi, lo := v[i]>>4, v[i]&0x0F
		if hi > 9 || lo > 9 {
			return time.Time{}, fmt.Errorf("%w: TimeStamp octet %#x", ErrBadField, v[i])
		}
		f[j] = int(hi)*10 + int(lo)
		j++
	}
	var sign int
	switch v[6] {
	case '+':
		sign = 1
	case '-':
		sign = -1
	default:
		return time.Time{}, fmt.Errorf("%w: TimeStamp sign %#x", ErrBadField, v[6])
	}
	year, mon, day, hh, mm, ss, oh, om := 2000+f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]
	if mon < 1 || mon > 12 || day < 1 || hh > 23 || mm > 59 || ss > 59 || oh > 14 || om > 59 {
		return time.Time{}, fmt.Errorf("%w: TimeStamp out of range", ErrBadField)
	}
	t := time.Date(year, time.Month(mon), day, hh, mm, ss, 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, fmt.Errorf("%w: TimeStamp day %d", ErrBadField, day)
	}
	offset := time.Duration(sign*(oh*60+om)) * time.Minute
	return t.Add(-offset), nil
}

// gsnAddress decodes a GSNAddress (IPAddress CHOICE, explicitly tagged
// inside [4]): binary IPv4 [0] or IPv6 [1], text [2] or [3]. A primitive
// [4] holding 4 or 16 octets is accepted too.
func gsnAddress(f tlv, off int) (string, error) {
	if !f.constructed {
		return binaryAddress(f.content)
	}
	it := children(f, off, 0)
	c, _, ok, err := it.next()
	if err != nil {
		return "", err
	}
	if !ok || c.class != classContext {
		return "", fmt.Errorf("%w: empty address", ErrBadField)
	}
	switch c.tag {
	case 0, 1:
		return binaryAddress(c.content)
	case 2, 3:
		a, err := netip.ParseAddr(string(c.content))
		if err != nil {
			return "", fmt.Errorf("%w: text address", ErrBadField)
		}
		return a.String(), nil
	}
	return "", fmt.Errorf("%w: address choice [%d]", ErrBadField, c.tag)
}

func binaryAddress(v []byte) (string, error) {
	a, ok := netip.AddrFromSlice(v)
	if !ok {
		return "", fmt.Errorf("%w: address of %d octets", ErrBadField, len(v))
	}
	return a.String(), nil
}

// ratName names a TS 29.061 / 29.274 RAT type value as the feeds do.
func ratName(n uint32) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "UTRAN"
	case 2:
		return "GERAN"
	case 3:
		return "WLAN"
	case 4:
		return "GAN"
	case 5:
		return "HSPA-EVOLUTION"
	case 6:
		return "EUTRAN"
	case 7:
		return "VIRTUAL"
	case 8:
		return "EUTRAN-NB-IOT"
	case 9:
		return "LTE-M"
	case 10:
		return "NR"
	}
	return "RAT-" + strconv.FormatUint(uint64(n), 10)
}
