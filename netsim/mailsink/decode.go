package mailsink

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"
)

// maxDepth bounds multipart nesting; real notification mail has at most two
// levels (mixed > alternative).
const maxDepth = 8

// errNoText means a part (or a whole message) has no text/plain content.
var errNoText = errors.New("no text/plain part")

// decode parses a raw RFC 5322 message and returns its decoded subject and
// text/plain body. The body's line endings are LF: SMTP carries CRLF, so the
// sender's own line-end form cannot be recovered.
func decode(raw []byte) (subject, text string, err error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", "", fmt.Errorf("parse message: %w", err)
	}
	dec := mime.WordDecoder{CharsetReader: charsetReader}
	subject, err = dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return "", "", fmt.Errorf("decode subject: %w", err)
	}
	text, err = textBody(textproto.MIMEHeader(m.Header), m.Body, 0)
	if err != nil {
		return subject, "", err
	}
	return subject, strings.ReplaceAll(text, "\r\n", "\n"), nil
}

// textBody returns the first text/plain content found in a part, depth
// first, decoded from its transfer encoding and charset.
func textBody(h textproto.MIMEHeader, body io.Reader, depth int) (string, error) {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii" // RFC 2045 section 5.2
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", fmt.Errorf("content type %q: %w", ct, err)
	}
	switch {
	case strings.HasPrefix(mediaType, "multipart/"):
		if depth >= maxDepth {
			return "", fmt.Errorf("multipart nested deeper than %d", maxDepth)
		}
		if params["boundary"] == "" {
			return "", fmt.Errorf("%s without a boundary", mediaType)
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextRawPart leaves Content-Transfer-Encoding to us, so every
			// part is decoded by the same code as a single-part message.
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return "", errNoText
			}
			if err != nil {
				return "", fmt.Errorf("read %s: %w", mediaType, err)
			}
			s, err := textBody(p.Header, p, depth+1)
			if errors.Is(err, errNoText) {
				continue
			}
			return s, err
		}
	case mediaType == "text/plain":
		if d := h.Get("Content-Disposition"); strings.HasPrefix(strings.ToLower(d), "attachment") {
			return "", errNoText
		}
		r, err := transferDecoder(h.Get("Content-Transfer-Encoding"), body)
		if err != nil {
			return "", err
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return "", fmt.Errorf("decode body: %w", err)
		}
		return toUTF8(params["charset"], b)
	default:
		return "", errNoText
	}
}

func transferDecoder(cte string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return r, nil
	case "quoted-printable":
		return quotedprintable.NewReader(r), nil
	case "base64":
		// The decoder skips the CR and LF of wrapped lines.
		return base64.NewDecoder(base64.StdEncoding, r), nil
	default:
		return nil, fmt.Errorf("unknown content transfer encoding %q", cte)
	}
}

func toUTF8(charset string, b []byte) (string, error) {
	switch strings.ToLower(charset) {
	case "", "utf-8", "utf8", "us-ascii":
		if !utf8.Valid(b) {
			return "", fmt.Errorf("body is not valid %s", cmp.Or(charset, "us-ascii"))
		}
		return string(b), nil
	}
	r, err := charsetReader(charset, bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("decode %s body: %w", charset, err)
	}
	return string(out), nil
}

// charsetReader converts legacy charsets (windows-1255, koi8-r,
// iso-8859-1...) to UTF-8, for mail that did not come from our Mailer.
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, fmt.Errorf("charset %q: %w", charset, err)
	}
	return enc.NewDecoder().Reader(r), nil
}
