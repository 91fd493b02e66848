package clickhouse

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/simcore/simcore/metering"
)

// Reader answers usage queries. Totals come from the hourly and daily
// rollups; only the parts of a range that are not whole hours read raw rows.
type Reader struct {
	conn driver.Conn
}

// NewReader returns a reader on conn.
func NewReader(conn driver.Conn) *Reader { return &Reader{conn: conn} }

// piece is one part of a query range and the table that answers it.
type piece struct {
	table    string // usage_records, usage_hourly, usage_daily
	from, to time.Time
}

// plan splits [from, to) so that whole days come from the daily rollup (unless
// the series is hourly), whole hours from the hourly rollup, and only the
// sub-hour edges from raw records.
func plan(from, to time.Time, by metering.Granularity) []piece {
	from, to = from.UTC(), to.UTC()
	var ps []piece
	add := func(table string, a, b time.Time) {
		if a.Before(b) {
			ps = append(ps, piece{table, a, b})
		}
	}
	h1, h2 := ceilTo(from, time.Hour), to.Truncate(time.Hour)
	if !h1.Before(h2) {
		add("usage_records", from, to)
		return ps
	}
	add("usage_records", from, h1)
	d1, d2 := ceilTo(h1, 24*time.Hour), h2.Truncate(24*time.Hour)
	if by == metering.GranHour || !d1.Before(d2) {
		add("usage_hourly", h1, h2)
	} else {
		add("usage_hourly", h1, d1)
		add("usage_daily", d1, d2)
		add("usage_hourly", d2, h2)
	}
	add("usage_records", h2, to)
	return ps
}

func ceilTo(t time.Time, d time.Duration) time.Time {
	tt := t.Truncate(d)
	if tt.Before(t) {
		tt = tt.Add(d)
	}
	return tt
}

// bucketExpr is the SQL that maps a row of table to its bucket: Unix seconds
// for hours and days, YYYYMM for months, 0 for the total.
func bucketExpr(table string, by metering.Granularity) string {
	col := map[string]string{"usage_records": "start_time", "usage_hourly": "hour", "usage_daily": "day"}[table]
	switch by {
	case metering.GranHour:
		if table == "usage_records" {
			return "toUInt32(toStartOfHour(start_time))"
		}
		return "toUInt32(hour)"
	case metering.GranDay:
		if table == "usage_daily" {
			return "toUInt32(toUInt32(day) * 86400)"
		}
		return "toUInt32(toStartOfDay(" + col + "))"
	case metering.GranMonth:
		return "toUInt32(toYYYYMM(" + col + "))"
	}
	return "toUInt32(0)"
}

// buildUsageSQL builds the usage query for q: rows (bucket, type, records,
// sessions, bytes_up, bytes_down, duration_s) ordered by bucket.
func buildUsageSQL(q metering.UsageQuery) (string, []any) {
	var (
		parts []string
		args  []any
	)
	for _, p := range plan(q.From, q.To, q.By) {
		b := bucketExpr(p.table, q.By)
		switch p.table {
		case "usage_records":
			parts = append(parts, "SELECT "+b+" AS b, toUInt8(type) AS t, toUInt64(count()) AS records, toUInt64(countIf(sequence <= 1)) AS sessions, toUInt64(sum(bytes_up)) AS up, toUInt64(sum(bytes_down)) AS down, toUInt64(sum(duration_s)) AS dur"+
				" FROM usage_records WHERE iccid = ? AND start_time >= toDateTime(?) AND start_time < toDateTime(?) GROUP BY b, t")
			args = append(args, q.ICCID, p.from.Unix(), p.to.Unix())
		case "usage_hourly":
			parts = append(parts, "SELECT "+b+" AS b, toUInt8(type) AS t, toUInt64(sum(records)) AS records, toUInt64(sum(sessions)) AS sessions, toUInt64(sum(bytes_up)) AS up, toUInt64(sum(bytes_down)) AS down, toUInt64(sum(duration_s)) AS dur"+
				" FROM usage_hourly WHERE iccid = ? AND hour >= toDateTime(?) AND hour < toDateTime(?) GROUP BY b, t")
			args = append(args, q.ICCID, p.from.Unix(), p.to.Unix())
		case "usage_daily":
			parts = append(parts, "SELECT "+b+" AS b, toUInt8(type) AS t, toUInt64(sum(records)) AS records, toUInt64(sum(sessions)) AS sessions, toUInt64(sum(bytes_up)) AS up, toUInt64(sum(bytes_down)) AS down, toUInt64(sum(duration_s)) AS dur"+
				" FROM usage_daily WHERE iccid = ? AND day >= toDate(?) AND day < toDate(?) GROUP BY b, t")
			args = append(args, q.ICCID, p.from.Format(time.DateOnly), p.to.Format(time.DateOnly))
		}
	}
	sql := "SELECT b, t, sum(records), sum(sessions), sum(up), sum(down), sum(dur) FROM (" +
		strings.Join(parts, " UNION ALL ") + ") GROUP BY b, t ORDER BY b, t"
	return sql, args
}

// Usage answers q. Errors wrap metering.ErrInvalidQuery for a bad query.
func (r *Reader) Usage(ctx context.Context, q metering.UsageQuery) (metering.Usage, error) {
	if err := q.Validate(); err != nil {
		return metering.Usage{}, err
	}
	// Records start on whole seconds, so [From, To) holds the same records
	// as [ceil(From), ceil(To)).
	q.From, q.To = ceilTo(q.From.UTC(), time.Second), ceilTo(q.To.UTC(), time.Second)
	out := metering.Usage{ICCID: q.ICCID, From: q.From, To: q.To}
	sql, args := buildUsageSQL(q)
	rows, err := r.conn.Query(ctx, sql, args...)
	if err != nil {
		return out, fmt.Errorf("usage query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			b                                uint32
			t                                uint8
			records, sessions, up, down, dur uint64
		)
		if err := rows.Scan(&b, &t, &records, &sessions, &up, &down, &dur); err != nil {
			return out, fmt.Errorf("usage query: %w", err)
		}
		var tot metering.Totals
		switch metering.UsageType(t) {
		case metering.TypeData:
			tot.Data = metering.DataUsage{BytesUp: up, BytesDown: down, Sessions: sessions}
		case metering.TypeVoice:
			tot.Voice = metering.VoiceUsage{Seconds: dur, Calls: sessions}
		case metering.TypeSMS:
			tot.SMS = metering.SMSUsage{Count: records}
		}
		out.Totals.Add(tot)
		if q.By == metering.GranTotal {
			continue
		}
		from, to := bucketBounds(b, q.By)
		from, to = maxTime(from, q.From), minTime(to, q.To)
		if n := len(out.Series); n == 0 || !out.Series[n-1].From.Equal(from) {
			out.Series = append(out.Series, metering.Bucket{From: from, To: to})
		}
		out.Series[len(out.Series)-1].Totals.Add(tot)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("usage query: %w", err)
	}
	return out, nil
}

func bucketBounds(b uint32, by metering.Granularity) (time.Time, time.Time) {
	switch by {
	case metering.GranHour:
		t := time.Unix(int64(b), 0).UTC()
		return t, t.Add(time.Hour)
	case metering.GranDay:
		t := time.Unix(int64(b), 0).UTC()
		return t, t.AddDate(0, 0, 1)
	default:
		t := time.Date(int(b/100), time.Month(b%100), 1, 0, 0, 0, 0, time.UTC)
		return t, t.AddDate(0, 1, 0)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// cursor is the position after the last session of a page.
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

// buildSessionsSQL builds the page query: newest first, ties broken by key,
// one row more than the limit to know whether a next page exists.
func buildSessionsSQL(q metering.SessionQuery, after *cursor) (string, []any) {
	sql := "SELECT toUInt8(type), toUInt32(start_time), duration_s, bytes_up, bytes_down, mcc_mnc, rat, apn, peer_number, sequence, closing_cause, record_id, key_hi, key_lo" +
		" FROM usage_records WHERE iccid = ? AND start_time >= toDateTime(?) AND start_time < toDateTime(?)"
	args := []any{q.ICCID, q.From.Unix(), q.To.Unix()}
	if after != nil {
		sql += " AND (start_time < toDateTime(?) OR (start_time = toDateTime(?) AND (key_hi < ? OR (key_hi = ? AND key_lo < ?))))"
		args = append(args, after.start, after.start, after.hi, after.hi, after.lo)
	}
	sql += " ORDER BY start_time DESC, key_hi DESC, key_lo DESC LIMIT " + strconv.Itoa(q.Limit+1)
	return sql, args
}

// Sessions lists q.ICCID's usage records in the range, newest first.
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
		if err := rows.Scan(&t, &start, &s.DurationS, &s.BytesUp, &s.BytesDown, &s.MCCMNC, &s.RAT, &s.APN, &s.PeerNumber, &s.Sequence, &s.ClosingCause, &s.RecordID, &hi, &lo); err != nil {
			return page, fmt.Errorf("sessions query: %w", err)
		}
		if len(page.Sessions) == q.Limit {
			page.Next = last.encode()
			break
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
