package ber

import (
	"bytes"
	"testing"
)

// A bare stream whose first record is a GPRSRecord alternative this package
// does not decode (sgsnPDPRecord [20], first octet 0xB4) loses only that
// record, as the same record second in the stream does. It used to be
// taken for a TS 32.297 file header and fail the whole file.
func TestBareStreamStartingWithOtherRecordType(t *testing.T) {
	t.Parallel()
	// sgsnPDPRecord [20] (context, constructed): a few primitive members.
	other := []byte{0xB4, 0x0C, 0x80, 0x01, 0x12, 0x83, 0x07, 0x32, 0x14, 0x05, 0x21, 0x43, 0x65, 0x87}
	recs := records(3)
	var in []byte
	in = append(in, other...)
	for _, r := range recs {
		in = append(in, r...)
	}
	// Control: the same record second in the stream is only a RecordError.
	var ctl []byte
	ctl = append(ctl, recs[0]...)
	ctl = append(ctl, other...)
	ctl = append(ctl, recs[1]...)
	ctl = append(ctl, recs[2]...)
	if cdrs, errs := readAll(t, ctl); len(cdrs) != 3 || len(errs) != 1 {
		t.Fatalf("control: %d cdrs, errors %v; want 3 and 1", len(cdrs), errs)
	}

	cdrs, errs := readAll(t, in) // t.Fatal on a non-record (fatal) error
	if len(cdrs) != 3 || len(errs) != 1 || errs[0].Offset != 0 {
		t.Fatalf("got %d cdrs, errors %v; want 3 and one error at byte 0", len(cdrs), errs)
	}
}

// In a bare stream a record with the indefinite outer length and one
// corrupt inner length costs that record only, as the same corruption in a
// definite-length record does; every later record used to be discarded.
func TestIndefiniteRecordWithBadInnerLength(t *testing.T) {
	t.Parallel()
	for _, indefinite := range []bool{false, true} {
		var in []byte
		var firstBad int
		for i := range 4 {
			f := pgwFields()
			f.LocalSeq = u32(uint32(i))
			f.Indefinite = indefinite
			r := Encode(f)
			if i == 1 {
				firstBad = len(in)
				// servedIMSI [3]: 83 08 <8 TBCD octets>. Make its length
				// long form 0x82: the next two octets (IMSI digits) become a
				// length of thousands, past the end of the input.
				j := bytes.Index(r, []byte{0x83, 0x08})
				r[j+1] = 0x82
			}
			in = append(in, r...)
		}
		cdrs, errs := readAll(t, in)
		ids := []string{}
		for _, c := range cdrs {
			ids = append(ids, c.Record.RecordID)
		}
		if len(cdrs) != 3 || len(errs) == 0 || errs[0].Offset != int64(firstBad) {
			t.Errorf("indefinite=%v: decoded ids %v, errors %v; want ids 0, 2, 3 and an error at byte %d",
				indefinite, ids, errs, firstBad)
		}
	}
}

// A bare record whose outer (definite) length octet is corrupt upwards is
// not intact: its members do not fit the length. It costs that record only;
// skipping the claimed length used to swallow the intact record after it.
func TestBareRecordWithTooLongOuterLength(t *testing.T) {
	t.Parallel()
	var in []byte
	var bad int
	for i := range 4 {
		f := pgwFields()
		f.LocalSeq = u32(uint32(i))
		r := Encode(f)
		if r[0] != 0xBF || r[1] != tagPGWRecord || r[2] >= 0x7F-4 {
			t.Fatalf("unexpected record header % x", r[:4])
		}
		if i == 1 {
			bad = len(in)
			r[2] += 4 // 4 octets too long: runs into record 2's header
		}
		in = append(in, r...)
	}
	cdrs, errs := readAll(t, in)
	ids := []string{}
	for _, c := range cdrs {
		ids = append(ids, c.Record.RecordID)
	}
	if len(cdrs) != 3 || len(errs) != 1 || errs[0].Offset != int64(bad) {
		t.Errorf("decoded ids %v, errors %v; want ids 0, 2, 3 and one error at byte %d", ids, errs, bad)
	}
}
