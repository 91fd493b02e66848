package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
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
	return buildSQL(q, "iccid = ?", q.ICCID, "", "")
}

// buildManySQL builds the usage query for q over iccids instead of
// q.ICCID: rows (iccid, bucket, type, ...) ordered by iccid and bucket.
func buildManySQL(q metering.UsageQuery, iccids []string) (string, []any) {
	set := make([]any, len(iccids))
	for i, c := range iccids {
		set[i] = c
	}
	return buildSQL(q, "iccid IN ?", clickhouse.GroupSet{Value: set}, "iccid AS i, ", "i, ")
}

// buildSQL builds a usage query whose rows match who (with its argument
// arg); key prefixes the select lists and grouping with more columns.
func buildSQL(q metering.UsageQuery, who string, arg any, keySelect, key string) (string, []any) {
	var (
		parts []string
		args  []any
	)
	for _, p := range plan(q.From, q.To, q.By) {
		b := bucketExpr(p.table, q.By)
		switch p.table {
		case "usage_records":
			parts = append(parts, "SELECT "+keySelect+b+" AS b, toUInt8(type) AS t, toUInt64(count()) AS records, toUInt64(countIf(sequence <= 1)) AS sessions, toUInt64(sum(bytes_up)) AS up, toUInt64(sum(bytes_down)) AS down, toUInt64(sum(duration_s)) AS dur"+
				" FROM usage_records WHERE "+who+" AND start_time >= toDateTime(?) AND start_time < toDateTime(?) GROUP BY "+key+"b, t")
			args = append(args, arg, p.from.Unix(), p.to.Unix())
		case "usage_hourly":
			parts = append(parts, "SELECT "+keySelect+b+" AS b, toUInt8(type) AS t, toUInt64(sum(records)) AS records, toUInt64(sum(sessions)) AS sessions, toUInt64(sum(bytes_up)) AS up, toUInt64(sum(bytes_down)) AS down, toUInt64(sum(duration_s)) AS dur"+
				" FROM usage_hourly WHERE "+who+" AND hour >= toDateTime(?) AND hour < toDateTime(?) GROUP BY "+key+"b, t")
			args = append(args, arg, p.from.Unix(), p.to.Unix())
		case "usage_daily":
			parts = append(parts, "SELECT "+keySelect+b+" AS b, toUInt8(type) AS t, toUInt64(sum(records)) AS records, toUInt64(sum(sessions)) AS sessions, toUInt64(sum(bytes_up)) AS up, toUInt64(sum(bytes_down)) AS down, toUInt64(sum(duration_s)) AS dur"+
				" FROM usage_daily WHERE "+who+" AND day >= toDate(?) AND day < toDate(?) GROUP BY "+key+"b, t")
			args = append(args, arg, p.from.Format(time.DateOnly), p.to.Format(time.DateOnly))
		}
	}
	sql := "SELECT " + key + "b, t, sum(records), sum(sessions), sum(up), sum(down), sum(dur) FROM (" +
		strings.Join(parts, " UNION ALL ") + ") GROUP BY " + key + "b, t ORDER BY " + key + "b, t"
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
	if q.By != metering.GranTotal {
		out.Series = []metering.Bucket{} // asked for: present, if empty
	}
	if !q.From.Before(q.To) {
		return out, nil // within one second: no record starts there
	}
	sql, args := buildUsageSQL(q)
	rows, err := r.conn.Query(ctx, sql, args...)
	if err != nil {
		return out, fmt.Errorf("usage query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var row usageRow
		if err := rows.Scan(&row.b, &row.t, &row.records, &row.sessions, &row.up, &row.down, &row.dur); err != nil {
			return out, fmt.Errorf("usage query: %w", err)
		}
		row.addTo(&out, q)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("usage query: %w", err)
	}
	return out, nil
}

// UsageMany answers q for each of iccids (q.ICCID is ignored) in one
// query, as Usage would answer each; ICCIDs without usage get empty
// answers. Errors wrap metering.ErrInvalidQuery for a bad query.
func (r *Reader) UsageMany(ctx context.Context, q metering.UsageQuery, iccids []string) (map[string]metering.Usage, error) {
	out := make(map[string]metering.Usage, len(iccids))
	if len(iccids) == 0 {
		return out, nil
	}
	for _, i := range iccids {
		q.ICCID = i
		if err := q.Validate(); err != nil {
			return nil, err
		}
	}
	q.From, q.To = ceilTo(q.From.UTC(), time.Second), ceilTo(q.To.UTC(), time.Second)
	for _, i := range iccids {
		u := metering.Usage{ICCID: i, From: q.From, To: q.To}
		if q.By != metering.GranTotal {
			u.Series = []metering.Bucket{}
		}
		out[i] = u
	}
	if !q.From.Before(q.To) {
		return out, nil // within one second: no record starts there
	}
	sql, args := buildManySQL(q, iccids)
	rows, err := r.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("usage query of %d sims: %w", len(iccids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			iccid string
			row   usageRow
		)
		if err := rows.Scan(&iccid, &row.b, &row.t, &row.records, &row.sessions, &row.up, &row.down, &row.dur); err != nil {
			return nil, fmt.Errorf("usage query of %d sims: %w", len(iccids), err)
		}
		u, ok := out[iccid]
		if !ok {
			continue
		}
		row.addTo(&u, q)
		out[iccid] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage query of %d sims: %w", len(iccids), err)
	}
	return out, nil
}

// usageRow is one row of a usage query: a bucket's usage of one type.
type usageRow struct {
	b                                uint32
	t                                uint8
	records, sessions, up, down, dur uint64
}

// addTo adds the row to out, the answer to q.
func (row usageRow) addTo(out *metering.Usage, q metering.UsageQuery) {
	var tot metering.Totals
	switch metering.UsageType(row.t) {
	case metering.TypeData:
		tot.Data = metering.DataUsage{BytesUp: row.up, BytesDown: row.down, Sessions: row.sessions}
	case metering.TypeVoice:
		tot.Voice = metering.VoiceUsage{Seconds: row.dur, Calls: row.sessions}
	case metering.TypeSMS:
		tot.SMS = metering.SMSUsage{Count: row.records}
	}
	out.Totals.Add(tot)
	if q.By == metering.GranTotal {
		return
	}
	from, to := bucketBounds(row.b, q.By)
	from, to = maxTime(from, q.From), minTime(to, q.To)
	if n := len(out.Series); n == 0 || !out.Series[n-1].From.Equal(from) {
		out.Series = append(out.Series, metering.Bucket{From: from, To: to})
	}
	out.Series[len(out.Series)-1].Totals.Add(tot)
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
