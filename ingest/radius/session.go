package radius

import (
	"container/list"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	mu  sync.Mutex
	key string
	counters
	// stopAt is when the session's Stop happened (Unix seconds), once one
	// was accepted; begun, when a later session of the same id began
	// (0: none did). See newSession.
	stopAt, begun int64
	// earlier holds the counters of the session that had the id before
	// the one begun at begun (nil: none), so that its late updates are
	// measured against them, not against the new session's.
	earlier *counters

	// Read when the mark is evicted, without mu.
	stopped atomic.Bool  // a Stop of the session was accepted
	last    atomic.Int64 // when an update last moved the mark, Unix seconds
}

// counters are what was handed to the Sink of one session: its
// cumulative session time and octets, and how many records.
type counters struct {
	sessionS uint32
	in, out  uint64
	seq      uint32 // records emitted for the session
}

// raise moves c to the counter-wise maximum of itself and the cumulative
// counters of one more record.
func (c *counters) raise(sessionS uint32, in, out uint64) {
	c.sessionS = max(c.sessionS, sessionS)
	c.in = max(c.in, in)
	c.out = max(c.out, out)
	c.seq++
}

// marks is a bounded LRU of session high-water marks.
type marks struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *mark, most recent first
	byKey map[string]*list.Element

	// evicted is told of each mark evicted, by what its session was:
	// evictedStopped, evictedIdle or evictedActive. nil: not told.
	evicted func(state string)
}

// What an evicted mark's session was: stopped; idle (no update for
// idleAfter: most likely a Stop that never came); active (its next update
// is measured from zero and counts the session's usage again).
const (
	evictedStopped = "stopped"
	evictedIdle    = "idle"
	evictedActive  = "active"
)

// idleAfter is how long without an update makes an evicted session idle
// rather than active: longer than any interim interval NASes are set to.
const idleAfter = time.Hour

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
		old := last.Value.(*mark)
		delete(m.byKey, old.key)
		if m.evicted == nil {
			continue
		}
		switch {
		case old.stopped.Load():
			m.evicted(evictedStopped)
		case time.Since(time.Unix(old.last.Load(), 0)) >= idleAfter:
			m.evicted(evictedIdle)
		default:
			m.evicted(evictedActive)
		}
	}
	return mk
}

// len returns the number of sessions tracked.
func (m *marks) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.order.Len()
}

// reuseGap is how long after a session's Stop an update must say its
// session began to be a new session of the same id: a NAS that sends no
// Acct-Delay-Time retransmits an unanswered packet with its arrival as its
// time, and retransmissions end well within a minute.
const reuseGap = 60

// nasRestartSlack allows for the whole seconds of Acct-Session-Time and
// Acct-Delay-Time when a session began right after its NAS restarted.
const nasRestartSlack = 2

// Why an update was taken for a new session with an old session's id
// (simcore_radius_sessions_reused_total{cause}).
const (
	reusedAfterStop       = "stop"
	reusedAfterNASRestart = "nas_restart"
)

// began is when ev's session began (Unix seconds), as ev tells it: its
// time less its session time.
func began(ev *event) int64 { return ev.at.Unix() - int64(ev.sessionS) }

// newSession reports whether ev is an update of a later session than the
// one mk measured, one whose NAS reused the unique id (Acct-Session-Id is
// not unique across NAS restarts): mk's session was stopped, or its NAS
// restarted (Accounting-On or -Off at nasEnd, Unix seconds; 0: not heard
// of since mk last moved), and ev's session began after that. A late
// update of the ended session began before its end and is not one.
// The caller holds mk.mu.
func (mk *mark) newSession(ev *event, nasEnd int64) (cause string, ok bool) {
	if mk.seq == 0 {
		return "", false // nothing measured: nothing to start again from
	}
	b := began(ev)
	if mk.stopped.Load() && mk.stopAt != 0 && b >= mk.stopAt+reuseGap {
		return reusedAfterStop, true
	}
	if nasEnd > mk.last.Load() && b >= nasEnd-nasRestartSlack {
		return reusedAfterNASRestart, true
	}
	return "", false
}

// startOver makes mk the mark of a new session of its id, begun at b
// (Unix seconds), and keeps the ended session's counters for its late
// updates. The caller holds mk.mu.
func (mk *mark) startOver(b int64) {
	ended := mk.counters
	mk.earlier = &ended
	mk.counters = counters{}
	mk.stopAt, mk.begun = 0, b
	mk.stopped.Store(false)
}

// of returns the counters an update of a session begun at b (Unix
// seconds) is measured against: those of the session that had mk's id
// before, if b is before the current one began (a late update of that
// session: a Stop it did not get to send before its NAS restarted, or a
// retransmission), else mk's own. The caller holds mk.mu.
func (mk *mark) of(b int64) *counters {
	if mk.earlier != nil && b < mk.begun-reuseGap {
		return mk.earlier
	}
	return &mk.counters
}

// delta returns the record that brings mk up to ev, and false when ev adds
// nothing (duplicate, stale or all-zero update). The caller holds mk.mu.
func (mk *counters) delta(ev *event) (metering.Record, bool) {
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
	r := metering.Record{
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
	}
	if ev.hasCharge {
		// The bearer: the session's records list as one session.
		r.ChargingID, r.PGWAddress = ev.chargingID, ev.gateway
	}
	return r, true
}

// commit moves c, mk's counters or those of the session before (see of),
// to the counter-wise maximum of themselves and ev. The caller holds mk.mu
// and calls it only after the Sink accepted the record.
func (mk *mark) commit(c *counters, ev *event) {
	c.raise(ev.sessionS, ev.in, ev.out)
	if c != &mk.counters {
		return // a late update of the session before: mk's session is another
	}
	mk.last.Store(ev.at.Unix())
	if ev.status == rfc2866.AcctStatusType_Value_Stop {
		mk.stopAt = ev.at.Unix()
		mk.stopped.Store(true)
	}
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

// garbled reports whether octets, a delta or a session's cumulative
// total, is beyond what one record may carry (metering.MaxRecordOctets):
// only a garbage Gigawords attribute gives that, and such counters never
// move a mark.
func garbled(octets uint64) bool { return octets > metering.MaxRecordOctets }

func sub(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

// parseRecordID splits a RecordID made by recordID into the session id and
// the cumulative counters it names.
func parseRecordID(id string) (session string, sessionS uint32, in, out uint64, ok bool) {
	slash := strings.LastIndexByte(id, '/')
	if slash < 0 || !strings.HasPrefix(id[slash+1:], "t") {
		return "", 0, 0, 0, false
	}
	session = id[:slash]
	t, rest, ok1 := strings.Cut(id[slash+2:], "i")
	i, o, ok2 := strings.Cut(rest, "o")
	if !ok1 || !ok2 {
		return "", 0, 0, 0, false
	}
	st, err1 := strconv.ParseUint(t, 10, 32)
	in, err2 := strconv.ParseUint(i, 10, 64)
	out, err3 := strconv.ParseUint(o, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || session == "" {
		return "", 0, 0, 0, false
	}
	return session, uint32(st), in, out, true
}

// RestoreMark raises the high-water mark of a record's session to the
// cumulative counters its RecordID names, and the session's sequence to
// sequence, as if the record had just been accepted. The caller replays
// records the Sink durably accepted before a restart (the write-ahead
// log), so that a retransmission of one of them is answered without a new
// record and the next update is measured from where the session stood. It
// returns false, changing nothing, for a record id this package did not
// make. A record whose counters are garbled (beyond
// metering.MaxRecordOctets) changes nothing either, as when it was
// accepted. stopped says the record was its session's Stop, and at when
// its update happened (the record's start time plus its duration, as the
// mark kept it when accepted; zero: now): an evicted mark is counted by
// what its session was (stopped, idle or active), restored or not, and a
// session's first record restarts the mark at when that session began.
func (s *Server) RestoreMark(recordID string, sequence uint32, stopped bool, at time.Time) bool {
	session, st, in, out, ok := parseRecordID(recordID)
	if !ok {
		return false
	}
	if garbled(in) || garbled(out) {
		return true // quarantined when it was accepted; see Server.account
	}
	if at.IsZero() {
		at = time.Now()
	}
	mk := s.marks.get(session)
	mk.mu.Lock()
	defer mk.mu.Unlock()
	b := at.Unix() - int64(st)
	if sequence == 1 && mk.seq > 0 {
		// Its session's first record: the mark was new when it was
		// accepted (a session that reused the id, or a mark evicted
		// before), so it is not more of what was restored so far.
		mk.startOver(b)
	}
	c := mk.of(b)
	c.sessionS, c.in, c.out = max(c.sessionS, st), max(c.in, in), max(c.out, out)
	c.seq = max(c.seq, sequence)
	if c != &mk.counters {
		return true // a late update of the session before the current one
	}
	mk.last.Store(max(mk.last.Load(), at.Unix()))
	if stopped {
		mk.stopAt = at.Unix()
		mk.stopped.Store(true)
	}
	return true
}
