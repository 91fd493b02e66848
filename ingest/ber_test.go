package ingest_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/ingest/ber"
	"github.com/simcore/simcore/metering"
)

// berFixture is a TS 32.297 CDR file of known usage, with one record of an
// IMSI missing from the inventory and one corrupt record.
type berFixture struct {
	file        []byte
	sims        map[string]string // imsi → iccid, the inventory
	unknownIMSI string
	unknownLine int64 // 1-based position of the unknown IMSI's record
	badLine     int64 // 1-based position of the corrupt record
	badOffset   int64 // its byte offset in the file
	valid       int   // records that must be stored
}

func newBERFixture(t *testing.T, records int) berFixture {
	t.Helper()
	f := berFixture{sims: map[string]string{}, unknownIMSI: "001019999999999"}
	imsis := make([]string, 5)
	for i := range imsis {
		imsis[i] = fmt.Sprintf("00101%010d", i+1)
		p := fmt.Sprintf("894400000000%06d", i+1)
		f.sims[imsis[i]] = p + string(metering.LuhnCheckDigit(p))
	}
	start := time.Now().UTC().Add(-10 * 24 * time.Hour).Truncate(time.Second)
	var encoded [][]byte
	for i := range records {
		seq := uint32(i + 1)
		imsi := imsis[i%len(imsis)]
		switch i {
		case records / 3:
			imsi = f.unknownIMSI
			f.unknownLine = int64(i + 1)
		case records / 2:
			f.badLine = int64(i + 1)
		}
		b := ber.Encode(ber.CDRFields{
			IMSI: imsi, MSISDN: "447700900" + strconv.Itoa(100+i%5), APN: "iot.example", MCCMNC: "23415",
			RATType: 6, OpeningTime: start.Add(time.Duration(i) * time.Minute), Duration: uint32(60 + i),
			ChargingID: uint32(1000 + i), Gateway: netip.MustParseAddr("10.0.0.1"), NodeID: "pgw-ber-1",
			LocalSeq: &seq, Traffic: []ber.Volume{{Up: uint64(1000 + i), Down: uint64(5000 + 3*i)}, {Up: 7, Down: 11}},
		})
		if i == records/2 {
			j := bytes.Index(b, []byte{0x8D, 0x09})
			b[j+2] = 0xAA // corrupt the opening time
		}
		encoded = append(encoded, b)
	}
	f.file = ber.EncodeFile(encoded...)
	// The corrupt record's offset: the decoder reports the CDR header's.
	dec := ber.NewDecoder(bytes.NewReader(f.file))
	for {
		_, err := dec.Next()
		if err == nil {
			continue
		}
		if re, ok := err.(*ber.RecordError); ok {
			f.badOffset = re.Offset
			continue
		}
		break
	}
	if f.badOffset == 0 {
		t.Fatal("fixture: corrupt record not reported by the decoder")
	}
	f.valid = records - 2
	return f
}

// csv renders the fixture's decodable, known records as canonical CSV,
// the way an operator would have delivered the same usage as a CSV feed.
func (f berFixture) csv(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(ingest.GenHeader + "\n")
	dec := ber.NewDecoder(bytes.NewReader(f.file))
	for {
		cdr, err := dec.Next()
		if _, ok := err.(*ber.RecordError); ok {
			continue
		}
		if err != nil {
			break
		}
		r := cdr.Record
		iccid, ok := f.sims[r.IMSI]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s,%d,%d,%d,%s,%s,%s,%s,%d,%d\n",
			r.RecordID, r.NodeID, r.Type, iccid, r.IMSI, r.MSISDN, r.StartTime.Format(time.RFC3339),
			r.DurationS, r.BytesUp, r.BytesDown, r.MCCMNC, r.RAT, r.APN, r.PeerNumber, r.Sequence, r.ClosingCause)
	}
	return b.String()
}

func TestPipelineBER(t *testing.T) {
	t.Parallel()
	const records = 40
	fx := newBERFixture(t, records)
	res := &fakeResolver{sims: fx.sims}
	e := newTestEnv(t, ingest.Config{Resolver: ingest.NewCachedResolver(res, 0, 0, nil)}, nil)
	ctx := t.Context()

	src := func() ingest.Source {
		return ingest.Source{Kind: "file", Name: "cdr.ber", Format: ingest.FormatBER, R: bytes.NewReader(fx.file)}
	}
	sum, err := e.p.Ingest(ctx, src())
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	checkSummary(t, "first ingest", sum, ingest.Summary{Read: records, Stored: int64(fx.valid), Rejected: 2})
	sum, err = e.p.Ingest(ctx, src())
	if err != nil {
		t.Fatalf("Ingest again: %v", err)
	}
	checkSummary(t, "second ingest", sum, ingest.Summary{Read: records, Duplicates: int64(fx.valid), Rejected: 2})

	// The same usage as CSV, into a store of its own, gives the same totals.
	c := newTestEnv(t, ingest.Config{}, nil)
	text := fx.csv(t)
	csum, err := c.p.Ingest(ctx, ingest.Source{Kind: "file", Name: "cdr.csv", Format: ingest.FormatCSV, R: strings.NewReader(text)})
	if err != nil {
		t.Fatalf("Ingest CSV: %v", err)
	}
	checkSummary(t, "csv ingest", csum, ingest.Summary{Read: int64(fx.valid), Stored: int64(fx.valid)})
	got, want := e.totals(t), c.totals(t)
	if want.Records != uint64(fx.valid) {
		t.Fatalf("csv path stored %d records, want %d", want.Records, fx.valid)
	}
	if got != want {
		t.Errorf("BER totals %+v, CSV totals %+v", got, want)
	}

	rej := e.rejects(t, "cdr.ber")
	if len(rej) != 2 {
		t.Fatalf("quarantine %+v, want 2 rows", rej)
	}
	if r := rej[fx.unknownLine]; r.Reason != ingest.ReasonUnknownIMSI || r.Format != ingest.FormatBER || !strings.Contains(r.Raw, fx.unknownIMSI) {
		t.Errorf("unknown IMSI quarantined as %+v, want unknown_imsi with the record's IMSI in raw", r)
	}
	if r := rej[fx.badLine]; r.Reason != ingest.ReasonBERMalformed || !strings.Contains(r.Raw, "byte "+strconv.FormatInt(fx.badOffset, 10)) {
		t.Errorf("corrupt record quarantined as %+v, want ber_malformed at byte %d", r, fx.badOffset)
	}
	var off int64
	if err := e.ch.QueryRow(ctx, "SELECT offset FROM rejected_records FINAL WHERE source = 'cdr.ber' AND reason = 'ber_malformed'").Scan(&off); err != nil {
		t.Fatal(err)
	}
	if off != fx.badOffset {
		t.Errorf("ber_malformed offset %d, want %d", off, fx.badOffset)
	}
}

func TestFormatForNameBER(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"a.ber", "B.CDR"} {
		if f, ok := ingest.FormatForName(name, false); !ok || f != ingest.FormatBER {
			t.Errorf("FormatForName(%q) = %q, %v; want ber", name, f, ok)
		}
	}
}
