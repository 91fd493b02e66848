package smpp

import (
	"math/big"
	"strings"
	"sync"
)

// NormalizeMessageID puts a message id in a form that compares equal however
// an SMSC wrote the same id: surrounding space and NULs removed, lower case,
// leading zeros dropped ("00BBA622" and "bba622" are the same id). It does
// not convert between bases, which a single id cannot tell apart: a Sender
// resolves that against the ids it submitted (see DeliveryReceipt.MessageID
// in Sender's doc).
func NormalizeMessageID(id string) string {
	id = strings.ToLower(strings.Trim(id, " \t\r\n\x00"))
	if t := strings.TrimLeft(id, "0"); t != "" {
		return t
	} else if id != "" {
		return "0"
	}
	return ""
}

// tracker remembers recently submitted message ids, by normalised form, to
// give a receipt the id as SendSMS returned it. It holds at most n ids and
// forgets the oldest first; an id is also forgotten at its final receipt.
type tracker struct {
	mu    sync.Mutex
	byKey map[string]string // normalised id → id as submitted
	ring  []string          // normalised ids in submission order
	next  int
}

func newTracker(n int) *tracker {
	return &tracker{byKey: make(map[string]string, n), ring: make([]string, n)}
}

func (t *tracker) add(id string) {
	k := NormalizeMessageID(id)
	if k == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.ring[t.next]; old != "" {
		delete(t.byKey, old)
	}
	t.ring[t.next] = k
	t.next = (t.next + 1) % len(t.ring)
	t.byKey[k] = id
}

// resolve finds the submitted id a receipt is about. The receipted_message_id
// TLV is, by the specification, the id of submit_sm_resp; it is tried first,
// as written. The text's id is then tried as written, then read as decimal
// and written in hex, then read as hex and written in decimal: SMSCs that
// answer in one base and receipt in the other are common (Jasmin's
// dlr_msg_id_bases). The first id found wins; ok is false if none is known,
// and id is then the TLV's id, else the text's, as the SMSC wrote it.
//
// A receipt's id can match a different submitted id only if the text's id,
// read in the other base, equals an id still tracked while its own form is
// not: possible for small ids on an SMSC whose bases differ, which is why the
// TLV is preferred.
func (t *tracker) resolve(tlvID, textID string, final bool) (id string, ok bool) {
	cands := make([]string, 0, 4)
	if k := NormalizeMessageID(tlvID); k != "" {
		cands = append(cands, k)
	}
	if k := NormalizeMessageID(textID); k != "" {
		cands = append(cands, k)
		if n, ok := new(big.Int).SetString(k, 10); ok {
			cands = append(cands, n.Text(16))
		}
		if n, ok := new(big.Int).SetString(k, 16); ok {
			cands = append(cands, n.Text(10))
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range cands {
		if id, ok := t.byKey[k]; ok {
			if final {
				delete(t.byKey, k)
			}
			return id, true
		}
	}
	if tlvID != "" {
		return strings.Trim(tlvID, " \x00"), false
	}
	return strings.Trim(textID, " \x00"), false
}
