package smpp

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/simcore/simcore/provisioning"
)

// ReceiptText is the text of a delivery receipt, SMPP 3.4 Appendix B:
//
//	id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
//
// Fields are as sent; a missing field is empty (or the zero time).
type ReceiptText struct {
	ID        string
	Sub       string
	Dlvrd     string
	Submitted time.Time // UTC; the SMSC's zone is not sent
	Done      time.Time
	Stat      string // ASCII letters in upper case
	Err       string // as sent: decimal or hex
	Text      string
}

// ErrNotReceipt means a text holds no receipt field at all.
var ErrNotReceipt = errors.New("smpp: not a delivery receipt")

var receiptKeys = []string{"id:", "sub:", "dlvrd:", "submit date:", "done date:", "stat:", "err:", "text:"}

// ParseReceiptText parses a receipt text tolerantly, as SMSCs write them:
// keys in any case and order, fields missing or misspelt (the field is then
// empty), 10-, 12- or 14-digit dates (YYMMDDhhmm, YYMMDDhhmmss,
// YYYYMMDDhhmmss), err in hex, trailing NULs. A key counts only at the start
// or after white space, and only its first occurrence: "text:" runs to the
// next key not yet seen, so a message text quoting "stat:" stays text. It
// returns ErrNotReceipt if no key is present.
func ParseReceiptText(s string) (ReceiptText, error) {
	s = strings.TrimRight(s, "\x00")
	lower := asciiLower(s) // same length as s, whatever its bytes
	type field struct {
		key        string
		start, end int // value
	}
	var fields []field
	seen := map[string]bool{}
	for i := 0; i < len(s); i++ {
		if i > 0 && !isSpace(s[i-1]) {
			continue
		}
		for _, k := range receiptKeys {
			if !seen[k] && strings.HasPrefix(lower[i:], k) {
				seen[k] = true
				if n := len(fields); n > 0 {
					fields[n-1].end = i
				}
				fields = append(fields, field{key: k, start: i + len(k), end: len(s)})
				i += len(k) - 1
				break
			}
		}
	}
	if len(fields) == 0 {
		return ReceiptText{}, ErrNotReceipt
	}
	var r ReceiptText
	for _, f := range fields {
		v := s[f.start:f.end]
		var token string
		if t := strings.Fields(v); len(t) > 0 {
			token = t[0]
		}
		switch f.key {
		case "id:":
			r.ID = token
		case "sub:":
			r.Sub = token
		case "dlvrd:":
			r.Dlvrd = token
		case "submit date:":
			r.Submitted = parseReceiptDate(token)
		case "done date:":
			r.Done = parseReceiptDate(token)
		case "stat:":
			r.Stat = asciiUpper(token)
		case "err:":
			r.Err = token
		case "text:":
			r.Text = strings.TrimRight(v, " \t\r\n")
		}
	}
	return r, nil
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// parseReceiptDate reads YYMMDDhhmm, YYMMDDhhmmss or YYYYMMDDhhmmss as UTC;
// anything else (or "0000000000") is the zero time.
func parseReceiptDate(s string) time.Time {
	var layout string
	switch len(s) {
	case 10:
		layout = "0601021504"
	case 12:
		layout = "060102150405"
	case 14:
		layout = "20060102150405"
	default:
		return time.Time{}
	}
	t, err := time.ParseInLocation(layout, s, time.UTC)
	if err != nil {
		return time.Time{}
	}
	return t
}

// messageStates maps the message_state TLV (SMPP 3.4 §5.2.28) to the
// receipt's stat.
var messageStates = map[byte]string{
	1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED",
	5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD",
}

// longStates maps spellings some SMSCs use to the 7-letter stat.
var longStates = map[string]string{
	"DELIVERED": "DELIVRD", "UNDELIVERABLE": "UNDELIV", "REJECTED": "REJECTD",
	"ACCEPTED": "ACCEPTD", "DELETE": "DELETED", "EXPIRE": "EXPIRED",
}

// finalState reports whether no later receipt is expected.
func finalState(s string) bool {
	switch s {
	case "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "REJECTD":
		return true
	}
	return false
}

// receiptOf reads a delivery receipt off a deliver_sm: the message id from
// the receipted_message_id TLV, else the text; the state from the
// message_state TLV, else the text's stat, else UNKNOWN. The text is read
// as ASCII/Latin-1 whatever the data_coding but UCS-2, as SMSCs write it.
// It returns the text's id apart, for correlation.
func receiptOf(d deliverSM) (rec provisioning.DeliveryReceipt, tlvID, textID string, err error) {
	coding := d.dataCoding
	if coding != codingUCS2 {
		coding = 0xFF // Latin-1
	}
	rt, perr := ParseReceiptText(decodeText(coding, d.shortMessage))
	tlvID = cstring(d.tlvs[tagReceiptedMessageID])
	if perr != nil && tlvID == "" {
		return rec, "", "", perr
	}
	if rt.ID == "" && tlvID == "" {
		return rec, "", "", fmt.Errorf("smpp: receipt without a message id")
	}
	state := rt.Stat
	if l, ok := longStates[state]; ok {
		state = l
	}
	if v := d.tlvs[tagMessageState]; len(v) == 1 {
		if s, ok := messageStates[v[0]]; ok {
			state = s
		}
	}
	if state == "" {
		state = "UNKNOWN"
	}
	rec = provisioning.DeliveryReceipt{
		MessageID: tlvID,
		State:     state,
		Err:       rt.Err,
		Submitted: rt.Submitted,
		Done:      rt.Done,
	}
	if rec.MessageID == "" {
		rec.MessageID = rt.ID
	}
	return rec, tlvID, rt.ID, nil
}
