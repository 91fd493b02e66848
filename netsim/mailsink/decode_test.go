package mailsink

import (
	"strings"
	"testing"
)

// crlf turns a readable literal into what SMTP carries.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		raw           string
		subject, text string
		wantErr       string
	}{
		{
			name:    "quoted-printable UTF-8, Q-encoded subject",
			raw:     "Subject: =?UTF-8?q?Dit_SIM-kort_er_skiftet_p=C3=A5_=C3=B8en?=\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: quoted-printable\n\nHej\n\nDit nummer er p=C3=A5 dit nye SIM-kort. En meget lang linje, der er brudt med et=\n bl=C3=B8dt linjeskift.\n",
			subject: "Dit SIM-kort er skiftet på øen",
			text:    "Hej\n\nDit nummer er på dit nye SIM-kort. En meget lang linje, der er brudt med et blødt linjeskift.\n",
		},
		{
			name:    "base64 UTF-8 Hebrew, B-encoded subject in folded words",
			raw:     "Subject:\n =?UTF-8?b?15TXl9ec16TXqiDXm9eo15jXmdehINeULVNJTSDXlNeV16nXnNee15Qg15A=?=\n =?UTF-8?b?16jXldea?=\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64\n\n16nXnNeV150sDQoNCteU157Xodek16ggNDQ3NzAwOTAwMTIzINeU15XXoteR16gu\n",
			subject: "החלפת כרטיס ה-SIM הושלמה ארוך",
			text:    "שלום,\n\nהמספר 447700900123 הועבר.",
		},
		{
			name:    "8bit UTF-8 Russian, raw UTF-8 subject (SMTPUTF8)",
			raw:     "Subject: Замена SIM-карты\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nЗдравствуйте!\n",
			subject: "Замена SIM-карты",
			text:    "Здравствуйте!\n",
		},
		{
			name:    "no MIME headers: us-ascii",
			raw:     "Subject: plain\n\nhello\nworld\n",
			subject: "plain",
			text:    "hello\nworld\n",
		},
		{
			name:    "windows-1255 Hebrew body and ISO-8859-8 subject",
			raw:     "Subject: =?ISO-8859-8?Q?=F9=EC=E5=ED?=\nContent-Type: text/plain; charset=windows-1255\n\n\xf9\xec\xe5\xed\n",
			subject: "שלום",
			text:    "שלום\n",
		},
		{
			name:    "KOI8-R Russian body",
			raw:     "Subject: koi8\nContent-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: quoted-printable\n\n=F0=D2=C9=D7=C5=D4\n",
			subject: "koi8",
			text:    "Привет\n",
		},
		{
			name: "multipart/alternative: the text/plain part",
			raw: "Subject: alt\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b1\"\n\npreamble\n--b1\n" +
				"Content-Type: text/html; charset=UTF-8\n\n<p>html</p>\n--b1\n" +
				"Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64\n\nSGVqIHDDpSBkaWc=\n--b1--\n",
			subject: "alt",
			text:    "Hej på dig",
		},
		{
			name: "multipart/mixed > alternative, text attachment skipped",
			raw: "Subject: mixed\nContent-Type: multipart/mixed; boundary=outer\n\n--outer\n" +
				"Content-Type: text/plain; charset=UTF-8\nContent-Disposition: attachment; filename=a.txt\n\nattached\n--outer\n" +
				"Content-Type: multipart/alternative; boundary=inner\n\n--inner\nContent-Type: text/plain; charset=UTF-8\n\nbody text\n--inner--\n--outer--\n",
			subject: "mixed",
			text:    "body text",
		},
		{
			name:    "only HTML",
			raw:     "Subject: html\nContent-Type: text/html\n\n<p>x</p>\n",
			subject: "html",
			wantErr: "no text/plain part",
		},
		{
			name:    "broken base64",
			raw:     "Subject: b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n!!!!\n",
			subject: "b",
			wantErr: "decode body",
		},
		{
			name:    "invalid UTF-8 claimed as UTF-8",
			raw:     "Subject: u\nContent-Type: text/plain; charset=utf-8\n\n\xff\xfe\n",
			subject: "u",
			wantErr: "not valid utf-8",
		},
		{
			name:    "unknown charset",
			raw:     "Subject: c\nContent-Type: text/plain; charset=x-klingon\n\nqapla'\n",
			subject: "c",
			wantErr: "x-klingon",
		},
		{
			name:    "not a message",
			raw:     "no header here",
			wantErr: "parse message",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			subject, text, err := decode(crlf(tt.raw))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decode error %v, want one containing %q", err, tt.wantErr)
				}
				if subject != tt.subject {
					t.Errorf("subject %q, want %q even on a body error", subject, tt.subject)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if subject != tt.subject || text != tt.text {
				t.Errorf("decode =\n %q\n %q\nwant\n %q\n %q", subject, text, tt.subject, tt.text)
			}
		})
	}
}

// FuzzDecode: whatever arrives, decode returns without panicking.
func FuzzDecode(f *testing.F) {
	f.Add(crlf("Subject: x\nContent-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: text/plain\n\nhi\n--a--\n"))
	f.Add(crlf("Subject: =?UTF-8?b?15Q=?=\nContent-Transfer-Encoding: base64\n\n15Q=\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _, _ = decode(raw)
	})
}
