package radius

import (
	"container/list"
	"strconv"
	"sync"
	"time"

	"layeh.com/radius/rfc2866"

	"github.com/simcore/simcore/metering"
)

// ClosingCause values put on records (3GPP causeForRecClosing).
const (
	causeNormalRelease = 0  // Stop
	causeTimeLimit     = 17 // Start, Interim-Update: a partial record
)

// mark is a session's high-water mark: the counters already handed to the
// Sink. mu is held from computing a delta until the mark moves (or not)
// after Accept, so updates of one session are handled one at a time.
type mark struct {
	mu       sync.Mutex
	key      string
	sessionS uint32
	in, out  uint64
	seq      uint32 // records emitted for the session
}

// marks is a bounded LRU of session high-water marks.
type marks struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *mark, most recent first
	byKey map[string]*list.Element
}

func newMarks(max int) *marks {
	return &marks{max: max, order: list.New(), byKey: make(map[string]*list.Element)}
}

// get returns the mark of session key, creating a zero one (and evicting
// the least recently used) if needed.
func (m *marks) get(key string) *mark {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.byKey[key]; ok {
		m.order.MoveToFront(e)
		return e.Value.(*mark)
	}
	mk := &mark{key: key}
	m.byKey[key] = m.order.PushFront(mk)
	for m.order.Len() > m.max {
		last := m.order.Back()
		m.order.Remove(last)
		delete(m.byKey, last.Value.(*mark).key)
	}
	return mk
}

// len returns the number of sessions tracked.
func (m *marks) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

// delta returns the record that brings mk up to ev, and false when ev adds
// nothing (duplicate, stale or all-zero update). The caller holds mk.mu.
func (mk *mark) delta(ev *event) (metering.Record, bool) {
	dt := sub(uint64(ev.sessionS), uint64(mk.sessionS))
	din := sub(ev.in, mk.in)
	dout := sub(ev.out, mk.out)
	if dt == 0 && din == 0 && dout == 0 {
		return metering.Record{}, false
	}
	cause := uint8(causeTimeLimit)
	if ev.status == rfc2866.AcctStatusType_Value_Stop {
		cause = causeNormalRelease
	}
	return metering.Record{
		Type:         metering.TypeData,
		IMSI:         ev.imsi,
		MSISDN:       ev.msisdn,
		StartTime:    ev.at.Add(-time.Duration(dt) * time.Second).UTC().Truncate(time.Second),
		DurationS:    uint32(dt),
		BytesUp:      din,
		BytesDown:    dout,
		MCCMNC:       ev.mccmnc,
		RAT:          ev.rat,
		NodeID:       ev.nodeID,
		RecordID:     recordID(ev),
		Sequence:     mk.seq + 1,
		ClosingCause: cause,
	}, true
}

// commit moves the mark to the counter-wise maximum of itself and ev. The
// caller holds mk.mu and calls it only after the Sink accepted the record.
func (mk *mark) commit(ev *event) {
	mk.sessionS = max(mk.sessionS, ev.sessionS)
	mk.in = max(mk.in, ev.in)
	mk.out = max(mk.out, ev.out)
	mk.seq++
}

// recordID names the cumulative state ev brings its session to, so a
// retransmission of the same update has the same id.
func recordID(ev *event) string {
	b := make([]byte, 0, len(ev.sessionID)+64)
	b = append(b, ev.sessionID...)
	b = append(b, "/t"...)
	b = strconv.AppendUint(b, uint64(ev.sessionS), 10)
	b = append(b, 'i')
	b = strconv.AppendUint(b, ev.in, 10)
	b = append(b, 'o')
	b = strconv.AppendUint(b, ev.out, 10)
	return string(b)
}

func sub(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}
