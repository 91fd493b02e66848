package smpp

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fiorix/go-smpp/smpp/pdu/pdutext"
	"github.com/google/go-cmp/cmp"
)

// Sample texts. Danish fits GSM 7-bit; Hebrew and Russian need UCS-2.
const (
	textEN = "Your SIM is active. Data: 10 GB, valid 30 days. Questions? Reply HELP."
	textDA = "Dit SIM-kort er aktivt. Æbler, øl og blåbær - nej: Æ Ø Å æ ø å."
	textHE = "כרטיס ה-SIM שלך פעיל. נותרו 10 GB."
	textRU = "Ваша SIM-карта активна. Осталось 10 ГБ."
)

func units(coding byte, payload []byte) int {
	if coding == codingUCS2 {
		return len(payload) / 2
	}
	return len(payload)
}

func TestEncodeText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		text   string
		coding byte
		units  []int // septets (GSM) or UTF-16 units (UCS-2) per part
	}{
		{"english", textEN, codingGSM7, []int{len(textEN)}},
		{"danish", textDA, codingGSM7, []int{len([]rune(textDA))}},
		{"danish fits gsm", "Æbler, øl og blåbær: æøå ÆØÅ", codingGSM7, []int{28}},
		{"hebrew", textHE, codingUCS2, []int{len([]rune(textHE))}},
		{"russian", textRU, codingUCS2, []int{len([]rune(textRU))}},
		{"gsm 160 single", strings.Repeat("a", 160), codingGSM7, []int{160}},
		{"gsm 161 two parts", strings.Repeat("a", 161), codingGSM7, []int{153, 8}},
		{"gsm 400", strings.Repeat("0123456789", 40), codingGSM7, []int{153, 153, 94}},
		{"gsm escapes count two", strings.Repeat("€", 80), codingGSM7, []int{160}},
		{"gsm escape 81 splits", strings.Repeat("€", 81), codingGSM7, []int{152, 10}},
		// 152 septets then an escape pair: the pair may not be cut at 153.
		{"escape at the boundary", strings.Repeat("a", 152) + "[" + strings.Repeat("b", 20), codingGSM7, []int{152, 22}},
		{"escape fits the boundary", strings.Repeat("a", 151) + "[" + strings.Repeat("b", 20), codingGSM7, []int{153, 20}},
		{"ucs2 70 single", strings.Repeat("ж", 70), codingUCS2, []int{70}},
		{"ucs2 71 two parts", strings.Repeat("ж", 71), codingUCS2, []int{67, 4}},
		// 66 units then a surrogate pair: the pair may not be cut at 67.
		{"surrogate at the boundary", strings.Repeat("ж", 66) + "😀" + strings.Repeat("ж", 10), codingUCS2, []int{66, 12}},
		{"surrogate fits the boundary", strings.Repeat("ж", 65) + "😀" + strings.Repeat("ж", 10), codingUCS2, []int{67, 10}},
		{"emoji single", "ok 😀", codingUCS2, []int{5}},
		{"one non-gsm char switches all", strings.Repeat("a", 100) + "ç", codingUCS2, []int{67, 34}},
		{"all extension chars", "€[]{}\\^~|\f", codingGSM7, []int{20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := encodeText(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if e.coding != tt.coding {
				t.Fatalf("coding %#x, want %#x", e.coding, tt.coding)
			}
			var got []int
			var joined []byte
			for _, p := range e.payloads {
				got = append(got, units(e.coding, p))
				joined = append(joined, p...)
				if e.coding == codingGSM7 && len(p) > 0 && p[len(p)-1] == gsmEscape {
					t.Errorf("part ends in an escape")
				}
				if e.coding == codingUCS2 && len(p) >= 2 {
					if last := uint16(p[len(p)-2])<<8 | uint16(p[len(p)-1]); last >= 0xD800 && last < 0xDC00 {
						t.Errorf("part ends in a high surrogate")
					}
				}
			}
			if d := cmp.Diff(tt.units, got); d != "" {
				t.Errorf("units per part (-want +got):\n%s", d)
			}
			for i, p := range e.payloads { // each part decodes on its own
				if dec := decodeText(e.coding, p); strings.ContainsRune(dec, '\uFFFD') {
					t.Errorf("part %d decodes with a replacement character: %q", i+1, dec)
				}
			}
			if dec := decodeText(e.coding, joined); dec != tt.text {
				t.Errorf("round trip\n got %q\nwant %q", dec, tt.text)
			}
		})
	}
}

func TestEncodeTextRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
	}{
		{"invalid utf-8", "a\xffb"},
		{"more than 255 parts", strings.Repeat("a", 153*255+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := encodeText(tt.text); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// Every character of the alphabet and its extension round-trips, and our
// encoding agrees with go-smpp's (an independent table).
func TestGSM7Alphabet(t *testing.T) {
	t.Parallel()
	var all []rune
	for c, r := range gsmBasic {
		if c != gsmEscape {
			all = append(all, r)
		}
	}
	for _, r := range gsmExtension {
		all = append(all, r)
	}
	s := string(all)
	enc := appendGSM7(nil, s)
	if got := decodeGSM7(enc); got != s {
		t.Errorf("round trip\n got %q\nwant %q", got, s)
	}
	if lib := pdutext.GSM7(s).Encode(); !bytes.Equal(enc, lib) {
		t.Errorf("differs from go-smpp\n ours %x\n  lib %x", enc, lib)
	}
	for _, r := range all {
		if gsmSeptets(r) == 0 {
			t.Errorf("%q reported outside the alphabet", r)
		}
	}
	for _, r := range "`çÀשжΣ😀\t" {
		want := 0
		if r == 'Σ' {
			want = 1
		}
		if got := gsmSeptets(r); got != want {
			t.Errorf("gsmSeptets(%q) = %d, want %d", r, got, want)
		}
	}
}

func TestDecodeGSM7Tolerates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"unknown extension reads as basic", []byte{0x1b, 0x41}, "A"},
		{"trailing escape", []byte{'a', 0x1b}, "a "},
		{"high bit ignored", []byte{0xC1}, "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := decodeGSM7(tt.in); got != tt.want {
				t.Errorf("decodeGSM7 = %q, want %q", got, tt.want)
			}
		})
	}
}
