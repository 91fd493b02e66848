package ber

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func readAll(t *testing.T, in []byte) ([]CDR, []*RecordError) {
	t.Helper()
	d := NewDecoder(bytes.NewReader(in))
	var cdrs []CDR
	var errs []*RecordError
	for i := 0; ; i++ {
		if i > len(in)+10 {
			t.Fatal("decoder does not terminate")
		}
		c, err := d.Next()
		if err == io.EOF {
			return cdrs, errs
		}
		var re *RecordError
		if errors.As(err, &re) {
			errs = append(errs, re)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		cdrs = append(cdrs, c)
	}
}

func records(n int) [][]byte {
	var out [][]byte
	for i := range n {
		f := pgwFields()
		f.LocalSeq = u32(uint32(i))
		f.Indefinite = i%2 == 1
		out = append(out, Encode(f))
	}
	return out
}

func TestDecoderBareWithCorruptRecord(t *testing.T) {
	t.Parallel()
	recs := records(4)
	bad := append([]byte(nil), recs[1]...)
	i := bytes.Index(bad, []byte{0x8D, 0x09})
	bad[i+2+6] = 'x' // bad timestamp: framing intact
	var in []byte
	in = append(in, recs[0]...)
	offBad := len(in)
	in = append(in, bad...)
	in = append(in, recs[2]...)
	offGarbage := len(in)
	in = append(in, 0x01, 0x02, 0x03) // garbage between records: resync
	in = append(in, recs[3]...)

	cdrs, errs := readAll(t, in)
	if len(cdrs) != 3 {
		t.Fatalf("decoded %d records, want 3 (errors %v)", len(cdrs), errs)
	}
	for i, want := range []string{"0", "2", "3"} {
		if cdrs[i].Record.RecordID != want {
			t.Errorf("record %d id %q, want %q", i, cdrs[i].Record.RecordID, want)
		}
	}
	if len(errs) != 2 || errs[0].Offset != int64(offBad) || errs[1].Offset != int64(offGarbage) {
		t.Fatalf("errors %v, want offsets %d and %d", errs, offBad, offGarbage)
	}
	if !errors.Is(errs[0], ErrBadField) {
		t.Errorf("first error %v, want ErrBadField", errs[0])
	}
	if cdrs[0].Offset != 0 || cdrs[1].Offset != int64(offBad+len(bad)) {
		t.Errorf("offsets %d, %d", cdrs[0].Offset, cdrs[1].Offset)
	}
}

func TestDecoderFile(t *testing.T) {
	t.Parallel()
	recs := records(3)
	recs[1] = append([]byte(nil), recs[1]...)
	i := bytes.Index(recs[1], []byte{0x8D, 0x09})
	recs[1][i+2] = 0xAA // corrupt the middle record's timestamp
	file := EncodeFile(recs...)
	cdrs, errs := readAll(t, file)
	if len(cdrs) != 2 || cdrs[0].Record.RecordID != "0" || cdrs[1].Record.RecordID != "2" {
		t.Fatalf("decoded %+v, errors %v", cdrs, errs)
	}
	wantOff := int64(54 + 5 + len(recs[0]))
	if len(errs) != 1 || errs[0].Offset != wantOff {
		t.Fatalf("errors %v, want one at %d", errs, wantOff)
	}
	if cdrs[0].Offset != 54 {
		t.Errorf("first offset %d, want 54", cdrs[0].Offset)
	}
}

func TestDecoderTruncatedFile(t *testing.T) {
	t.Parallel()
	file := EncodeFile(records(2)...)
	cdrs, errs := readAll(t, file[:len(file)-5])
	if len(cdrs) != 1 || len(errs) != 1 || !errors.Is(errs[0], ErrTruncated) {
		t.Fatalf("cdrs %d errs %v", len(cdrs), errs)
	}
}

func TestDecoderEmpty(t *testing.T) {
	t.Parallel()
	if _, err := NewDecoder(bytes.NewReader(nil)).Next(); err != io.EOF {
		t.Fatalf("err = %v, want io.EOF", err)
	}
}

// oneByteReader returns one byte per Read, to exercise buffering.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) { return o.r.Read(p[:min(1, len(p))]) }

func TestDecoderSmallReads(t *testing.T) {
	t.Parallel()
	for _, in := range [][]byte{bytes.Join(records(5), nil), EncodeFile(records(5)...)} {
		d := NewDecoder(oneByteReader{bytes.NewReader(in)})
		n := 0
		for {
			_, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 5 {
			t.Fatalf("decoded %d, want 5", n)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(bytes.Join(records(2), nil))
	f.Add(EncodeFile(records(2)...))
	f.Add([]byte{0xBF, 0x4F, 0x84, 0x7F, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{0xBF, 0x4F, 0x80, 0xBF, 0x4F, 0x80})
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = DecodeRecord(in)
		d := NewDecoder(bytes.NewReader(in))
		for i := 0; ; i++ {
			if i > len(in)+2 {
				t.Fatal("decoder does not terminate")
			}
			_, err := d.Next()
			var re *RecordError
			if err != nil && !errors.As(err, &re) {
				break
			}
		}
		// The buffer grows only with data that arrived.
		if c := cap(d.buf); c > max(readChunk, 2*len(in)) {
			t.Fatalf("buffer %d bytes for %d bytes of input", c, len(in))
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	in := EncodeFile(records(1000)...)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	n := 0
	for b.Loop() {
		d := NewDecoder(bytes.NewReader(in))
		for {
			_, err := d.Next()
			if err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkDecodeRecord(b *testing.B) {
	rec := Encode(pgwFields())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
