package smpp

// GSM 03.38 (3GPP TS 23.038 §6.2.1) default alphabet, one septet per octet
// ("unpacked", as SMPP data_coding 0 carries it), with the default extension
// table reached through the escape septet 0x1B.

const gsmEscape = 0x1B

// gsmBasic maps a septet to its character; 0x1B is the escape.
var gsmBasic = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 0x1B, 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// gsmExtension maps the septet after an escape to its character.
var gsmExtension = map[byte]rune{
	0x0A: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2F: '\\',
	0x3C: '[', 0x3D: '~', 0x3E: ']', 0x40: '|', 0x65: '€',
}

// gsmCodes maps a character to its septets: one for the basic table, the
// escape and one for the extension table.
var gsmCodes = func() map[rune][]byte {
	m := make(map[rune][]byte, 128+len(gsmExtension))
	for c, r := range gsmBasic {
		if c != gsmEscape {
			m[r] = []byte{byte(c)}
		}
	}
	for c, r := range gsmExtension {
		m[r] = []byte{gsmEscape, c}
	}
	return m
}()

// gsmSeptets returns how many septets r takes: 1 or 2, or 0 if the GSM
// default alphabet cannot hold it.
func gsmSeptets(r rune) int {
	if gsmSame(r) {
		return 1
	}
	return len(gsmCodes[r])
}

// gsmSame reports whether r is ASCII at the same code point in the GSM
// alphabet: most letters, digits and punctuation (a fast path).
func gsmSame(r rune) bool { return r >= 0x20 && r < 0x7F && gsmBasic[r] == r }

// appendGSM7 appends the septets of s, which must fit the alphabet.
func appendGSM7(b []byte, s string) []byte {
	for _, r := range s {
		if gsmSame(r) {
			b = append(b, byte(r))
		} else {
			b = append(b, gsmCodes[r]...)
		}
	}
	return b
}

// decodeGSM7 decodes unpacked septets. An escape followed by a septet the
// extension table lacks reads as that septet in the basic table (TS 23.038
// §6.2.1.1); a trailing escape reads as a space.
func decodeGSM7(b []byte) string {
	out := make([]rune, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i] & 0x7F
		if c != gsmEscape {
			out = append(out, gsmBasic[c])
			continue
		}
		if i+1 == len(b) {
			out = append(out, ' ')
			break
		}
		i++
		if r, ok := gsmExtension[b[i]&0x7F]; ok {
			out = append(out, r)
		} else if b[i]&0x7F != gsmEscape {
			out = append(out, gsmBasic[b[i]&0x7F])
		}
	}
	return string(out)
}
