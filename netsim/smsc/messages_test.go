package smsc

import (
	"testing"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func ucs2(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

func TestDecodeText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		coding byte
		in     []byte
		want   string
	}{
		{"gsm basic", 0, []byte("Hello"), "Hello"},
		{"gsm danish", 0, []byte{0x1d, 0x0c, 0x0f, 0x1c, 0x0b, 0x0e}, "æøåÆØÅ"},
		{"gsm escapes", 0, []byte{0x1b, 0x65, 0x1b, 0x3c, 0x1b, 0x3e, 0x1b, 0x28, 0x1b, 0x29, 0x1b, 0x2f, 0x1b, 0x14, 0x1b, 0x3d, 0x1b, 0x40}, "€[]{}\\^~|"},
		{"gsm cut escape", 0, []byte{'a', 0x1b}, "a"},
		{"gsm at sign", 0, []byte{0x00}, "@"},
		{"ucs2 hebrew", 8, ucs2("שלום"), "שלום"},
		{"ucs2 surrogate pair", 8, ucs2("a😀b"), "a😀b"},
		{"latin1", 3, []byte{0xe6, 0xf8}, "æø"},
		{"ascii", 1, []byte("plain"), "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := decodeText(tt.coding, tt.in); got != tt.want {
				t.Errorf("decodeText = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSplitUDH(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		sm          []byte
		ref         uint16
		part, total uint8
		payload     string
		ok          bool
	}{
		{"8-bit ref", []byte{5, 0, 3, 0x2a, 3, 2, 'h', 'i'}, 0x2a, 2, 3, "hi", true},
		{"16-bit ref", []byte{6, 8, 4, 0x12, 0x34, 2, 1, 'x'}, 0x1234, 1, 2, "x", true},
		{"other element first", []byte{8, 0x24, 1, 1, 0, 3, 9, 2, 2, 'y'}, 9, 2, 2, "y", true},
		{"no concat element", []byte{3, 0x24, 1, 1, 'z'}, 0, 0, 0, "z", true},
		{"header too long", []byte{9, 0, 3}, 0, 0, 0, "", false},
		{"element too long", []byte{3, 0, 5, 1, 'q'}, 0, 0, 0, "q", false},
		{"empty", nil, 0, 0, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ref, part, total, payload, ok := splitUDH(tt.sm)
			if ok != tt.ok || (ok && (ref != tt.ref || part != tt.part || total != tt.total || string(payload) != tt.payload)) {
				t.Errorf("splitUDH = %d %d/%d %q %v, want %d %d/%d %q %v",
					ref, part, total, payload, ok, tt.ref, tt.part, tt.total, tt.payload, tt.ok)
			}
		})
	}
}

func TestAssemble(t *testing.T) {
	t.Parallel()
	part := func(ref uint16, p, n uint8, coding byte, payload []byte) record {
		return record{msg: Message{Source: "S", Destination: "D", Ref: ref, Part: p, Total: n, DataCoding: coding}, payload: payload}
	}
	single := record{msg: Message{Source: "S", Destination: "D"}, payload: []byte("one")}
	// "a😀b" split inside the surrogate pair: only joining the payloads
	// before decoding gets it back.
	u := ucs2("a😀b")
	recs := []record{
		part(7, 2, 2, 0, []byte("world")),
		single,
		part(8, 1, 2, 8, u[:4]),
		part(7, 1, 2, 0, []byte("hello ")),
		part(8, 2, 2, 8, u[4:]),
		part(7, 1, 2, 0, []byte("again ")), // reference reused after completion
	}
	got := assemble(recs)
	var full []string
	for _, m := range got {
		full = append(full, m.FullText)
	}
	want := []string{"", "one", "", "hello world", "a😀b", ""}
	if d := cmp.Diff(want, full, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("FullText (-want +got):\n%s", d)
	}
	if got[0].Text != "world" || got[3].Text != "hello " {
		t.Errorf("part texts %q %q", got[0].Text, got[3].Text)
	}
}

func TestReceiptText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		coding  byte
		payload []byte
		want    string
	}{
		{"cut to 20", 0, []byte("This is a sample message"), "This is a sample mes"},
		{"gsm specials replaced", 0, []byte{0x00, 'a', 0x1d, 0x1b, 0x65}, "?a??"},
		{"ucs2", 8, ucs2("Привет, world"), "??????, world"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := receiptText(tt.coding, tt.payload); got != tt.want {
				t.Errorf("receiptText = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{SystemID: "sim"}, true},
		{"no system id", Config{}, false},
		{"failure rate above 1", Config{SystemID: "sim", FailureRate: 1.5}, false},
		{"bad id format", Config{SystemID: "sim", IDFormat: "base64"}, false},
		{"prefix not digits", Config{SystemID: "sim", RejectPrefixes: []string{"+45"}}, false},
		{"negative delay", Config{SystemID: "sim", RespDelay: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
