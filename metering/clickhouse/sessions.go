package clickhouse

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/simcore/simcore/metering"
)

// cursor is the position after the last session of a page: its first
// start and its group identity (hi, lo).
type cursor struct {
	start  int64
	hi, lo uint64
}

func (c cursor) encode() string {
	s := strconv.FormatInt(c.start, 10) + "." + strconv.FormatUint(c.hi, 16) + "." + strconv.FormatUint(c.lo, 16)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, fmt.Errorf("%w: malformed cursor", metering.ErrInvalidQuery)
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 {
		return c, fmt.Errorf("%w: malformed cursor", metering.ErrInvalidQuery)
	}
	var e1, e2, e3 error
	c.start, e1 = strconv.ParseInt(parts[0], 10, 64)
	c.hi, e2 = strconv.ParseUint(parts[1], 16, 64)
	c.lo, e3 = strconv.ParseUint(parts[2], 16, 64)
	if err := errors.Join(e1, e2, e3); err != nil {
		return c, fmt.Errorf("%w: malformed cursor", metering.ErrInvalidQuery)
	}
	return c, nil
}

// Session grouping. The records of one bearer (same pgw_address and
// charging_id) form one session; a record without a bearer (an empty
// pgw_address) is a session of its own. Each session has a 128-bit group identity
// (gh, gl): the record's key when it stands alone, and
// (cityHash64(pgw_address), charging_id) for a bearer. Sessions are
// ordered by (first start, gh, gl), newest first, and a cursor holds that
// triple, so pages neither repeat nor skip a session.
//
// Within a session the partial records are ordered by (start_time,
// sequence), packed into one UInt64 (start_time fits in 32 bits) because
// argMin over tuples is not in ClickHouse 18.16.
const (
	sessionGH  = "if(pgw_address = '', key_hi, cityHash64(pgw_address))"
	sessionGL  = "if(pgw_address = '', key_lo, toUInt64(charging_id))"
	partsOrder = "toUInt64(start_time) * 4294967296 + sequence"
)

// buildSessionsSQL builds the page query: sessions newest first, ties
// broken by group identity, one row more than the limit to know whether a
// next page exists.
func buildSessionsSQL(q metering.SessionQuery, after *cursor) (string, []any) {
	sql := "SELECT toUInt8(argMin(type, " + partsOrder + ")), toUInt32(min(start_time)) AS first_start, toUInt32(sum(duration_s)), sum(bytes_up), sum(bytes_down)," +
		" argMin(mcc_mnc, " + partsOrder + "), argMin(rat, " + partsOrder + "), argMin(apn, " + partsOrder + "), argMin(peer_number, " + partsOrder + ")," +
		" max(sequence), argMax(closing_cause, " + partsOrder + "), argMin(record_id, " + partsOrder + "), toUInt32(count()), any(charging_id), any(pgw_address)," +
		" " + sessionGH + " AS gh, " + sessionGL + " AS gl" +
		" FROM usage_records WHERE iccid = ? AND start_time >= toDateTime(?) AND start_time < toDateTime(?) GROUP BY gh, gl"
	args := []any{q.ICCID, q.From.Unix(), q.To.Unix()}
	if after != nil {
		sql += " HAVING first_start < ? OR (first_start = ? AND (gh < ? OR (gh = ? AND gl < ?)))"
		args = append(args, after.start, after.start, after.hi, after.hi, after.lo)
	}
	sql += " ORDER BY first_start DESC, gh DESC, gl DESC LIMIT " + strconv.Itoa(q.Limit+1)
	return sql, args
}

// Sessions lists q.ICCID's sessions in the range, newest first: the
// partial records of one bearer as one session (see metering.Session),
// other records one each. Only records that start in the range count.
// Errors wrap metering.ErrInvalidQuery for a bad query or cursor.
func (r *Reader) Sessions(ctx context.Context, q metering.SessionQuery) (metering.SessionPage, error) {
	var page metering.SessionPage
	if err := q.Validate(); err != nil {
		return page, err
	}
	var after *cursor
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return page, err
		}
		after = &c
	}
	q.From, q.To = ceilTo(q.From.UTC(), time.Second), ceilTo(q.To.UTC(), time.Second)
	sql, args := buildSessionsSQL(q, after)
	rows, err := r.conn.Query(ctx, sql, args...)
	if err != nil {
		return page, fmt.Errorf("sessions query: %w", err)
	}
	defer rows.Close()
	page.Sessions = []metering.Session{}
	var last cursor
	for rows.Next() {
		var (
			s      metering.Session
			t      uint8
			start  uint32
			hi, lo uint64
		)
		if err := rows.Scan(&t, &start, &s.DurationS, &s.BytesUp, &s.BytesDown, &s.MCCMNC, &s.RAT, &s.APN, &s.PeerNumber,
			&s.Sequence, &s.ClosingCause, &s.RecordID, &s.Parts, &s.ChargingID, &s.PGWAddress, &hi, &lo); err != nil {
			return page, fmt.Errorf("sessions query: %w", err)
		}
		if len(page.Sessions) == q.Limit {
			page.Next = last.encode()
			break
		}
		if s.PGWAddress == "" {
			s.ChargingID = 0
		}
		s.Type = metering.UsageType(t).String()
		s.StartTime = time.Unix(int64(start), 0).UTC()
		page.Sessions = append(page.Sessions, s)
		last = cursor{start: int64(start), hi: hi, lo: lo}
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("sessions query: %w", err)
	}
	return page, nil
}
