package smpp

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseReceiptText: never panics; a parsed field is a substring of the
// input; a receipt written back in the standard layout parses to the same
// fields.
//
//	go test -fuzz FuzzParseReceiptText ./workers/smpp/
func FuzzParseReceiptText(f *testing.F) {
	for _, v := range readVectors(f, "DeliveryReceiptTest_vectors.tsv") {
		if v.kind == "receipt_text" {
			f.Add(v.value)
		}
	}
	f.Add("id:1 text:stat: err:")
	f.Add("ID:\x00 SUB:")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReceiptText(s)
		if err != nil {
			return
		}
		lower := asciiLower(s)
		for _, v := range []string{r.ID, r.Sub, r.Dlvrd, r.Err, r.Text} {
			if !strings.Contains(s, v) {
				t.Fatalf("field %q not in input %q", v, s)
			}
		}
		if !strings.Contains(lower, asciiLower(r.Stat)) {
			t.Fatalf("stat %q not in input %q", r.Stat, s)
		}
		if !utf8.ValidString(s) || strings.ContainsAny(r.ID+r.Sub+r.Dlvrd+r.Stat+r.Err, " \t\r\n\x00:") {
			return // not writable back in the standard layout
		}
		again, err := ParseReceiptText(formatReceipt(r))
		if err != nil {
			t.Fatalf("rewritten %q: %v", formatReceipt(r), err)
		}
		again.Submitted, again.Done, again.Text = r.Submitted, r.Done, r.Text
		if again != r {
			t.Fatalf("rewritten %q parsed as %+v, want %+v", formatReceipt(r), again, r)
		}
	})
}

func formatReceipt(r ReceiptText) string {
	return "id:" + r.ID + " sub:" + r.Sub + " dlvrd:" + r.Dlvrd + " submit date:0000000000 done date:0000000000 stat:" +
		r.Stat + " err:" + r.Err + " text:"
}

// FuzzDecodeDeliverSM: any frame decodes or fails without panicking, and a
// decoded receipt never panics its parser.
//
//	go test -fuzz FuzzDecodeDeliverSM ./workers/smpp/
func FuzzDecodeDeliverSM(f *testing.F) {
	for _, file := range []string{"PduDecoderTest_vectors.tsv", "DeliveryReceiptTest_vectors.tsv"} {
		for _, v := range readVectors(f, file) {
			if v.kind == "decode_input" {
				if b, err := hexBytes(v.value); err == nil {
					f.Add(b)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDeliverSM(b)
		if err != nil {
			return
		}
		receiptOf(d)
	})
}
