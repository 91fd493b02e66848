// Package radius is an RFC 2866 accounting receiver: it listens on UDP,
// verifies Accounting-Requests, turns Start, Interim-Update and Stop into
// delta metering.Record values, hands them to a Sink and answers the NAS
// with an Accounting-Response only after the Sink accepted them durably.
//
// It imports the metering and numbering domains, layeh.com/radius and
// Prometheus. It must not import storage adapters or the ingest pipeline:
// the caller wires a Sink to them.
//
// # Clients
//
// With Config.Secret every NAS shares one secret and any source address is
// accepted. With Config.Clients (ParseClients reads the text form) the
// source address of a datagram picks its NAS's secret by longest-prefix
// match, an IPv4-mapped IPv6 source as IPv4; a datagram from no client's
// address is dropped in the read loop, before it is copied or parsed, and
// counted as unknown_client. The client chosen decides only the secret:
// records and session marks come from the packet's attributes as below.
//
// # Session identity
//
// Acct-Session-Id is not unique across NAS restarts, so a session is named
// like FreeRADIUS's acct_unique policy (without the Class variant):
//
//	md5hex(User-Name "," Acct-Session-Id "," (NAS-IPv6-Address or NAS-IP-Address) ","
//	       NAS-Identifier "," NAS-Port-Id "," NAS-Port)
//
// Record.NodeID is the NAS identity: NAS-Identifier, else NAS-IP-Address,
// else NAS-IPv6-Address. A request carrying neither is malformed (RFC 2866
// requires one) and dropped.
//
// # Deltas and exactly-once
//
// Accounting counters are cumulative for a session. Octet totals are
// Gigawords<<32 + Octets (attributes 52/53 with 42/43). For every session the
// server keeps in memory a high-water mark: the largest Acct-Session-Time,
// input total and output total already handed to the Sink. An update
// produces one record whose DurationS, BytesUp and BytesDown are the
// positive part of (update − mark), counter by counter; the mark then moves
// to the counter-wise maximum. The record's identity is
//
//	NodeID   = NAS identity
//	RecordID = <unique session id> "/t" <session time> "i" <input total> "o" <output total>
//
// so the identity names the cumulative state the record brings the session
// to. Consequences:
//
//   - A retransmission (same counters) produces the same RecordID. If the
//     first copy was accepted the mark already covers it and nothing is
//     emitted; if it is still in the store's dedupe window it is dropped
//     there anyway.
//   - An update older than the mark (it arrives after a later one) has no
//     positive delta: nothing is emitted and the NAS is answered, so the
//     session total is the counter-wise maximum of everything received,
//     whatever the order, the duplicates or where the Stop falls.
//   - The mark moves only after Sink.Accept returned nil, under a
//     per-session lock, so a failed Accept leaves no trace: the NAS
//     retransmits and the retry computes the same delta and RecordID.
//   - An update with no positive delta (a Start with zero counters, a
//     duplicate, a stale interim) is answered without calling the Sink.
//
// The identity depends only on the packet (its session attributes and
// cumulative counters), never on the mark, the arrival time or
// Acct-Delay-Time: a record whose update was logged but not answered
// before a crash, and which the NAS then retransmits to the restarted
// receiver, has the same identity and counts once in the store. The status
// type is not part of it: a Stop that reports the counters of an earlier
// Interim-Update adds no usage.
//
// Reused ids. A NAS restarts its Acct-Session-Id counter, so a later
// session can carry an earlier one's unique id, with counters that start
// again from zero. An update is taken for such a new session when the
// mark's session was stopped and the update says (its time less its
// session time) that its session began at least a minute after that Stop,
// or when the NAS sent Accounting-On or -Off after the mark last moved and
// the update's session began after that: the mark starts again from zero
// (simcore_radius_sessions_reused_total{cause}). The old session's
// counters stay with the mark: an update that began more than a minute
// before the new session (a late update of the old session, such as a
// Stop its NAS could not send before it restarted, or a retransmission)
// is measured against them, and leaves the new session's mark alone; one
// session back only. A NAS that sends no Acct-Delay-Time and delivers an
// update of a stopped session more than a minute after its Stop has it
// taken for a new session: a Start adds nothing, but an Interim-Update
// counts its session's usage again. Accounting-On is remembered in memory
// only: after a restart of simcore, a reused id is recognised by its old
// session's Stop alone. On restore, records are taken at their update's
// time (start time plus duration), and one with sequence 1 starts its
// session's mark again, as it did when accepted.
//
// Restarts. RestoreMark raises a session's mark from a record the Sink
// accepted before a restart (cmd/simcore replays the write-ahead log's
// recent segments into it), so the next update is measured from where the
// session stood and a retransmission adds nothing.
//
// Limits. Marks live in a bounded LRU (Config.MaxSessions); evictions are
// counted by what the session was (stopped, idle, active). When a session's
// mark is evicted, or it was not restored after a restart (its last update
// is older than the replayed window, or the Sink keeps no log), the next
// update of that session is measured from zero: a retransmission of an
// already stored update then carries the same RecordID and is deduped by
// the store, but a new update carries the session's whole cumulative usage
// and over-counts by what was stored before. The RecordID keeps the
// cumulative marker so that downstream reconciliation (max of cumulative
// per session) can repair it. An update whose delta is beyond
// metering.MaxRecordOctets (garbage Gigawords) is handed to the Sink,
// which quarantines it as bytes_too_large, and leaves the mark where it
// was (RestoreMark skips such a record too): the next good update then
// carries the session's usage since the last good one, instead of every
// later update measuring below a garbage mark. Counter wrap without
// Gigawords, or a NAS that resets counters inside a session, under-counts
// (the mark never goes down). Sequence counts the records emitted for the
// session (restored with the mark) and is informational only.
//
// # Records
//
// Type is data; BytesUp is input (from the user), BytesDown output.
// StartTime is the start of the interval the delta covers: (receive time −
// Acct-Delay-Time) − DurationS, in whole UTC seconds. IMSI, IMSI-MCC-MNC and
// RAT-Type come from 3GPP vendor attributes (vendor 10415: 1, 8, 21), MSISDN
// from Calling-Station-Id; values that do not pass the numbering rules are
// left empty. RAT names follow 3GPP TS 29.274 RAT Type (also used by TS
// 29.061 3GPP-RAT-Type), see ratName. ClosingCause is 0 (normal release) on
// Stop and 17 (time limit, a partial record) on Start and Interim-Update.
// ICCID is left empty: it is resolved from inventory later, so records
// fail metering.Record.Validate until then. With a 3GPP-Charging-ID
// (vendor 10415, 2) a record names its bearer: ChargingID, and PGWAddress
// from 3GPP-GGSN-Address (7), else NAS-IP(v6)-Address, else the NAS
// identity; without one it names none (each record then lists as a session
// of its own).
package radius
