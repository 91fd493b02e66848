package clickhouse

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
)

// utc is a short time.Date in UTC.
func utc(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

func TestPlan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		from, to time.Time
		by       metering.Granularity
		want     []piece
	}{
		{
			name: "aligned to days",
			from: utc(2024, 3, 1, 0, 0, 0), to: utc(2024, 3, 31, 0, 0, 0), by: metering.GranDay,
			want: []piece{{"usage_daily", utc(2024, 3, 1, 0, 0, 0), utc(2024, 3, 31, 0, 0, 0)}},
		},
		{
			name: "aligned to hours only",
			from: utc(2024, 3, 1, 5, 0, 0), to: utc(2024, 3, 4, 19, 0, 0), by: metering.GranTotal,
			want: []piece{
				{"usage_hourly", utc(2024, 3, 1, 5, 0, 0), utc(2024, 3, 2, 0, 0, 0)},
				{"usage_daily", utc(2024, 3, 2, 0, 0, 0), utc(2024, 3, 4, 0, 0, 0)},
				{"usage_hourly", utc(2024, 3, 4, 0, 0, 0), utc(2024, 3, 4, 19, 0, 0)},
			},
		},
		{
			name: "whole hours across midnight but no whole day",
			from: utc(2024, 3, 1, 20, 0, 0), to: utc(2024, 3, 2, 4, 0, 0), by: metering.GranDay,
			want: []piece{{"usage_hourly", utc(2024, 3, 1, 20, 0, 0), utc(2024, 3, 2, 4, 0, 0)}},
		},
		{
			name: "unaligned at both ends",
			from: utc(2024, 3, 1, 10, 17, 30), to: utc(2024, 3, 4, 14, 43, 10), by: metering.GranDay,
			want: []piece{
				{"usage_records", utc(2024, 3, 1, 10, 17, 30), utc(2024, 3, 1, 11, 0, 0)},
				{"usage_hourly", utc(2024, 3, 1, 11, 0, 0), utc(2024, 3, 2, 0, 0, 0)},
				{"usage_daily", utc(2024, 3, 2, 0, 0, 0), utc(2024, 3, 4, 0, 0, 0)},
				{"usage_hourly", utc(2024, 3, 4, 0, 0, 0), utc(2024, 3, 4, 14, 0, 0)},
				{"usage_records", utc(2024, 3, 4, 14, 0, 0), utc(2024, 3, 4, 14, 43, 10)},
			},
		},
		{
			name: "unaligned start, day-aligned end",
			from: utc(2024, 3, 1, 23, 59, 59), to: utc(2024, 3, 3, 0, 0, 0), by: metering.GranTotal,
			want: []piece{
				{"usage_records", utc(2024, 3, 1, 23, 59, 59), utc(2024, 3, 2, 0, 0, 0)},
				{"usage_daily", utc(2024, 3, 2, 0, 0, 0), utc(2024, 3, 3, 0, 0, 0)},
			},
		},
		{
			name: "within one hour",
			from: utc(2024, 3, 1, 10, 17, 0), to: utc(2024, 3, 1, 10, 43, 0), by: metering.GranTotal,
			want: []piece{{"usage_records", utc(2024, 3, 1, 10, 17, 0), utc(2024, 3, 1, 10, 43, 0)}},
		},
		{
			name: "across an hour boundary without a whole hour",
			from: utc(2024, 3, 1, 10, 17, 0), to: utc(2024, 3, 1, 11, 5, 0), by: metering.GranHour,
			want: []piece{{"usage_records", utc(2024, 3, 1, 10, 17, 0), utc(2024, 3, 1, 11, 5, 0)}},
		},
		{
			name: "exactly one hour",
			from: utc(2024, 3, 1, 10, 0, 0), to: utc(2024, 3, 1, 11, 0, 0), by: metering.GranTotal,
			want: []piece{{"usage_hourly", utc(2024, 3, 1, 10, 0, 0), utc(2024, 3, 1, 11, 0, 0)}},
		},
		{
			name: "hourly granularity never reads the daily rollup",
			from: utc(2024, 3, 1, 10, 17, 30), to: utc(2024, 3, 4, 14, 43, 10), by: metering.GranHour,
			want: []piece{
				{"usage_records", utc(2024, 3, 1, 10, 17, 30), utc(2024, 3, 1, 11, 0, 0)},
				{"usage_hourly", utc(2024, 3, 1, 11, 0, 0), utc(2024, 3, 4, 14, 0, 0)},
				{"usage_records", utc(2024, 3, 4, 14, 0, 0), utc(2024, 3, 4, 14, 43, 10)},
			},
		},
		{
			name: "hourly granularity on whole days",
			from: utc(2024, 3, 1, 0, 0, 0), to: utc(2024, 3, 3, 0, 0, 0), by: metering.GranHour,
			want: []piece{{"usage_hourly", utc(2024, 3, 1, 0, 0, 0), utc(2024, 3, 3, 0, 0, 0)}},
		},
		{
			name: "crossing a month",
			from: utc(2024, 1, 30, 22, 0, 0), to: utc(2024, 2, 2, 3, 0, 0), by: metering.GranMonth,
			want: []piece{
				{"usage_hourly", utc(2024, 1, 30, 22, 0, 0), utc(2024, 1, 31, 0, 0, 0)},
				{"usage_daily", utc(2024, 1, 31, 0, 0, 0), utc(2024, 2, 2, 0, 0, 0)},
				{"usage_hourly", utc(2024, 2, 2, 0, 0, 0), utc(2024, 2, 2, 3, 0, 0)},
			},
		},
		{
			name: "other time zone is planned in UTC",
			from: time.Date(2024, 3, 1, 5, 30, 0, 0, time.FixedZone("IST", 5*3600+1800)),
			to:   time.Date(2024, 3, 3, 5, 30, 0, 0, time.FixedZone("IST", 5*3600+1800)),
			by:   metering.GranTotal,
			want: []piece{
				{"usage_daily", utc(2024, 3, 1, 0, 0, 0), utc(2024, 3, 3, 0, 0, 0)},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := plan(tc.from, tc.to, tc.by)
			if diff := gocmp.Diff(tc.want, got, gocmp.AllowUnexported(piece{})); diff != "" {
				t.Errorf("plan(%s, %s, %s) mismatch (-want +got):\n%s", tc.from, tc.to, tc.by, diff)
			}
			// The pieces tile [from, to) exactly.
			if len(got) == 0 || !got[0].from.Equal(tc.from) || !got[len(got)-1].to.Equal(tc.to) {
				t.Fatalf("pieces %v do not span [%s, %s)", got, tc.from, tc.to)
			}
			for i := 1; i < len(got); i++ {
				if !got[i-1].to.Equal(got[i].from) {
					t.Errorf("gap or overlap between pieces %d and %d: %v", i-1, i, got)
				}
			}
		})
	}
}

func TestBuildUsageSQL(t *testing.T) {
	t.Parallel()
	id := iccid(1)
	q := metering.UsageQuery{ICCID: id, From: utc(2024, 3, 1, 10, 17, 30), To: utc(2024, 3, 4, 14, 43, 10), By: metering.GranDay}
	gotSQL, gotArgs := buildUsageSQL(q)

	wantSQL := "SELECT b, t, sum(records), sum(sessions), sum(up), sum(down), sum(dur) FROM (" +
		"SELECT toUInt32(toStartOfDay(start_time)) AS b, toUInt8(type) AS t, toUInt64(count()) AS records, toUInt64(countIf(sequence <= 1)) AS sessions, toUInt64(sum(bytes_up)) AS up, toUInt64(sum(bytes_down)) AS down, toUInt64(sum(duration_s)) AS dur FROM usage_records WHERE iccid = ? AND start_time >= toDateTime(?) AND start_time < toDateTime(?) GROUP BY b, t" +
		" UNION ALL " +
		"SELECT toUInt32(toStartOfDay(hour)) AS b, toUInt8(type) AS t, toUInt64(sum(records)) AS records, toUInt64(sum(sessions)) AS sessions, toUInt64(sum(bytes_up)) AS up, toUInt64(sum(bytes_down)) AS down, toUInt64(sum(duration_s)) AS dur FROM usage_hourly WHERE iccid = ? AND hour >= toDateTime(?) AND hour < toDateTime(?) GROUP BY b, t" +
		" UNION ALL " +
		"SELECT toUInt32(toUInt32(day) * 86400) AS b, toUInt8(type) AS t, toUInt64(sum(records)) AS records, toUInt64(sum(sessions)) AS sessions, toUInt64(sum(bytes_up)) AS up, toUInt64(sum(bytes_down)) AS down, toUInt64(sum(duration_s)) AS dur FROM usage_daily WHERE iccid = ? AND day >= toDate(?) AND day < toDate(?) GROUP BY b, t" +
		" UNION ALL " +
		"SELECT toUInt32(toStartOfDay(hour)) AS b, toUInt8(type) AS t, toUInt64(sum(records)) AS records, toUInt64(sum(sessions)) AS sessions, toUInt64(sum(bytes_up)) AS up, toUInt64(sum(bytes_down)) AS down, toUInt64(sum(duration_s)) AS dur FROM usage_hourly WHERE iccid = ? AND hour >= toDateTime(?) AND hour < toDateTime(?) GROUP BY b, t" +
		" UNION ALL " +
		"SELECT toUInt32(toStartOfDay(start_time)) AS b, toUInt8(type) AS t, toUInt64(count()) AS records, toUInt64(countIf(sequence <= 1)) AS sessions, toUInt64(sum(bytes_up)) AS up, toUInt64(sum(bytes_down)) AS down, toUInt64(sum(duration_s)) AS dur FROM usage_records WHERE iccid = ? AND start_time >= toDateTime(?) AND start_time < toDateTime(?) GROUP BY b, t" +
		") GROUP BY b, t ORDER BY b, t"
	wantArgs := []any{
		id, int64(1709288250), int64(1709290800), // 2024-03-01 10:17:30 .. 11:00
		id, int64(1709290800), int64(1709337600), // 2024-03-01 11:00 .. 03-02
		id, "2024-03-02", "2024-03-04",
		id, int64(1709510400), int64(1709560800), // 2024-03-04 00:00 .. 14:00
		id, int64(1709560800), int64(1709563390), // 2024-03-04 14:00 .. 14:43:10
	}
	if diff := gocmp.Diff(wantSQL, gotSQL); diff != "" {
		t.Errorf("SQL mismatch (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(wantArgs, gotArgs); diff != "" {
		t.Errorf("args mismatch (-want +got):\n%s", diff)
	}
}

func TestBucketExpr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		table string
		by    metering.Granularity
		want  string
	}{
		{"total", "usage_daily", metering.GranTotal, "toUInt32(0)"},
		{"hour from raw", "usage_records", metering.GranHour, "toUInt32(toStartOfHour(start_time))"},
		{"hour from hourly", "usage_hourly", metering.GranHour, "toUInt32(hour)"},
		{"day from raw", "usage_records", metering.GranDay, "toUInt32(toStartOfDay(start_time))"},
		{"day from daily", "usage_daily", metering.GranDay, "toUInt32(toUInt32(day) * 86400)"},
		{"month from raw", "usage_records", metering.GranMonth, "toUInt32(toYYYYMM(start_time))"},
		{"month from hourly", "usage_hourly", metering.GranMonth, "toUInt32(toYYYYMM(hour))"},
		{"month from daily", "usage_daily", metering.GranMonth, "toUInt32(toYYYYMM(day))"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := bucketExpr(tc.table, tc.by); got != tc.want {
				t.Errorf("bucketExpr(%s, %s) = %q, want %q", tc.table, tc.by, got, tc.want)
			}
		})
	}
}

func TestBuildSessionsSQL(t *testing.T) {
	t.Parallel()
	id := iccid(1)
	q := metering.SessionQuery{ICCID: id, From: utc(2024, 3, 1, 0, 0, 0), To: utc(2024, 3, 2, 0, 0, 0), Limit: 7}
	const (
		ord = "toUInt64(start_time) * 4294967296 + sequence"
		sel = "SELECT toUInt8(argMin(type, " + ord + ")), toUInt32(min(start_time)) AS first_start, toUInt32(sum(duration_s)), sum(bytes_up), sum(bytes_down)," +
			" argMin(mcc_mnc, " + ord + "), argMin(rat, " + ord + "), argMin(apn, " + ord + "), argMin(peer_number, " + ord + ")," +
			" max(sequence), argMax(closing_cause, " + ord + "), argMin(record_id, " + ord + "), toUInt32(count()), any(charging_id), any(pgw_address)," +
			" if(pgw_address = '', key_hi, cityHash64(pgw_address)) AS gh, if(pgw_address = '', key_lo, toUInt64(charging_id)) AS gl" +
			" FROM usage_records WHERE iccid = ? AND start_time >= toDateTime(?) AND start_time < toDateTime(?) GROUP BY gh, gl"
	)
	tests := []struct {
		name     string
		after    *cursor
		wantSQL  string
		wantArgs []any
	}{
		{
			name:     "first page",
			wantSQL:  sel + " ORDER BY first_start DESC, gh DESC, gl DESC LIMIT 8",
			wantArgs: []any{id, int64(1709251200), int64(1709337600)},
		},
		{
			name:  "after a cursor",
			after: &cursor{start: 1709290800, hi: 0xfedcba9876543210, lo: 42},
			wantSQL: sel +
				" HAVING first_start < ? OR (first_start = ? AND (gh < ? OR (gh = ? AND gl < ?)))" +
				" ORDER BY first_start DESC, gh DESC, gl DESC LIMIT 8",
			wantArgs: []any{id, int64(1709251200), int64(1709337600),
				int64(1709290800), int64(1709290800), uint64(0xfedcba9876543210), uint64(0xfedcba9876543210), uint64(42)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gotSQL, gotArgs := buildSessionsSQL(q, tc.after)
			if diff := gocmp.Diff(tc.wantSQL, gotSQL); diff != "" {
				t.Errorf("SQL mismatch (-want +got):\n%s", diff)
			}
			if diff := gocmp.Diff(tc.wantArgs, gotArgs); diff != "" {
				t.Errorf("args mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    cursor
	}{
		{"zero", cursor{}},
		{"typical", cursor{start: 1709290800, hi: 0x6c62272e07bb0142, lo: 0x62b821756295c58d}},
		{"largest keys", cursor{start: 1<<32 - 1, hi: 1<<64 - 1, lo: 1<<64 - 1}},
		{"negative start", cursor{start: -1, hi: 1, lo: 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.c.encode()
			got, err := decodeCursor(s)
			if err != nil {
				t.Fatalf("decodeCursor(%q): %v", s, err)
			}
			if got != tc.c {
				t.Errorf("decodeCursor(encode(%+v)) = %+v", tc.c, got)
			}
		})
	}
}

func TestDecodeCursorMalformed(t *testing.T) {
	t.Parallel()
	b64 := rawURL
	tests := []struct {
		name string
		s    string
	}{
		{"empty", ""},
		{"not base64", "!!!"},
		{"padded base64", b64("1.2.3") + "="},
		{"standard alphabet", "+/+/"},
		{"two parts", b64("1.2")},
		{"four parts", b64("1.2.3.4")},
		{"empty parts", b64("..")},
		{"start not a number", b64("x.2.3")},
		{"hi not hex", b64("1.zz.3")},
		{"lo not hex", b64("1.2.-3")},
		{"hi overflows", b64("1.10000000000000000.3")},
		{"start overflows", b64("99999999999999999999.2.3")},
		{"spaces", b64(" 1.2.3")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := decodeCursor(tc.s)
			if !errors.Is(err, metering.ErrInvalidQuery) {
				t.Fatalf("decodeCursor(%q) = %+v, %v; want an error wrapping ErrInvalidQuery", tc.s, c, err)
			}
		})
	}
}

// rawURL encodes any text the way cursor.encode encodes its own.
func rawURL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// usageDataset is the records of TestReaderUsage: three months of one SIM's
// data, voice and SMS, another SIM's records at the same times, and records
// placed on the edges of the queries below.
func usageDataset() []metering.Record {
	r := rand.New(rand.NewPCG(1, 2))
	var recs []metering.Record
	id := 0
	add := func(sim int, typ metering.UsageType, start time.Time, seq uint32) {
		id++
		x := metering.Record{
			Type: typ, ICCID: iccid(sim), StartTime: start.UTC(), NodeID: "node" + strconv.Itoa(id%3),
			RecordID: "r" + strconv.Itoa(id), Sequence: seq, MCCMNC: "23415", RAT: "LTE",
		}
		switch typ {
		case metering.TypeData:
			x.BytesUp, x.BytesDown, x.DurationS = r.Uint64N(1<<20), r.Uint64N(1<<24), uint32(r.IntN(7200))
			x.APN = "iot.example"
		case metering.TypeVoice:
			x.DurationS = uint32(1 + r.IntN(3600))
			x.PeerNumber = "447700900" + strconv.Itoa(100+r.IntN(900))
		case metering.TypeSMS:
			x.PeerNumber = "447700900123"
		}
		recs = append(recs, x)
	}
	types := []metering.UsageType{metering.TypeData, metering.TypeData, metering.TypeVoice, metering.TypeSMS}
	from, span := utc(2024, 1, 15, 0, 0, 0), int64(50*24*3600) // to 2024-03-05
	for i := range 300 {
		start := from.Add(time.Duration(r.Int64N(span)) * time.Second)
		switch i % 10 {
		case 0, 1:
			start = start.Truncate(time.Hour)
		case 2:
			start = start.Truncate(24 * time.Hour)
		}
		typ := types[r.IntN(len(types))]
		if typ == metering.TypeData && i%7 == 0 {
			// A partial session: three records, the later ones hours apart.
			for seq := uint32(1); seq <= 3; seq++ {
				add(1, typ, start.Add(time.Duration(seq-1)*(5*time.Hour+13*time.Minute)), seq)
			}
			continue
		}
		add(1, typ, start, 0)
		if i%5 == 0 {
			add(2, typ, start, 0) // another SIM at the same time
		}
	}
	// Edges of the odd-minute queries, of hours, days and months.
	for _, ts := range []time.Time{
		utc(2024, 2, 3, 10, 16, 59), utc(2024, 2, 3, 10, 17, 0), utc(2024, 2, 3, 10, 59, 59), utc(2024, 2, 3, 11, 0, 0),
		utc(2024, 2, 3, 23, 59, 59), utc(2024, 2, 4, 0, 0, 0), utc(2024, 2, 6, 0, 0, 0), utc(2024, 2, 6, 13, 59, 59),
		utc(2024, 2, 6, 14, 0, 0), utc(2024, 2, 6, 14, 42, 59), utc(2024, 2, 6, 14, 43, 0), utc(2024, 2, 5, 14, 43, 0),
		utc(2024, 1, 31, 23, 59, 59), utc(2024, 2, 1, 0, 0, 0), utc(2024, 2, 29, 23, 59, 59), utc(2024, 3, 1, 0, 0, 0),
		utc(2024, 1, 15, 10, 17, 0), utc(2024, 3, 3, 14, 42, 59), utc(2024, 3, 3, 14, 43, 0),
	} {
		for _, typ := range []metering.UsageType{metering.TypeData, metering.TypeVoice, metering.TypeSMS} {
			add(1, typ, ts, 0)
		}
		add(2, metering.TypeData, ts, 0)
	}
	// Partial sessions across the edges: the first record before the start
	// of a query, and one across a midnight.
	add(1, metering.TypeData, utc(2024, 2, 3, 10, 10, 0), 1)
	add(1, metering.TypeData, utc(2024, 2, 3, 10, 40, 0), 2)
	add(1, metering.TypeData, utc(2024, 2, 3, 11, 10, 0), 3)
	add(1, metering.TypeData, utc(2024, 2, 4, 23, 50, 0), 1)
	add(1, metering.TypeData, utc(2024, 2, 5, 0, 5, 0), 2)
	add(1, metering.TypeVoice, utc(2024, 2, 6, 13, 30, 0), 1)
	add(1, metering.TypeVoice, utc(2024, 2, 6, 14, 30, 0), 2)
	return recs
}

// expectUsage computes q's answer from recs directly: the reference for
// Reader.Usage, which reads rollups.
func expectUsage(recs []metering.Record, q metering.UsageQuery) metering.Usage {
	from, to := q.From.UTC(), q.To.UTC()
	u := metering.Usage{ICCID: q.ICCID, From: from, To: to}
	if q.By != metering.GranTotal {
		u.Series = []metering.Bucket{} // asked for: present, if empty
	}
	buckets := map[time.Time]*metering.Bucket{}
	for _, r := range recs {
		if r.ICCID != q.ICCID || r.StartTime.Before(from) || !r.StartTime.Before(to) {
			continue
		}
		var tot metering.Totals
		first := uint64(0)
		if r.Sequence <= 1 {
			first = 1
		}
		switch r.Type {
		case metering.TypeData:
			tot.Data = metering.DataUsage{BytesUp: r.BytesUp, BytesDown: r.BytesDown, Sessions: first}
		case metering.TypeVoice:
			tot.Voice = metering.VoiceUsage{Seconds: uint64(r.DurationS), Calls: first}
		case metering.TypeSMS:
			tot.SMS = metering.SMSUsage{Count: 1}
		}
		u.Totals.Add(tot)
		if q.By == metering.GranTotal {
			continue
		}
		var bf, bt time.Time
		st := r.StartTime.UTC()
		switch q.By {
		case metering.GranHour:
			bf = time.Date(st.Year(), st.Month(), st.Day(), st.Hour(), 0, 0, 0, time.UTC)
			bt = bf.Add(time.Hour)
		case metering.GranDay:
			bf = time.Date(st.Year(), st.Month(), st.Day(), 0, 0, 0, 0, time.UTC)
			bt = bf.AddDate(0, 0, 1)
		case metering.GranMonth:
			bf = time.Date(st.Year(), st.Month(), 1, 0, 0, 0, 0, time.UTC)
			bt = bf.AddDate(0, 1, 0)
		}
		if bf.Before(from) {
			bf = from
		}
		if bt.After(to) {
			bt = to
		}
		b := buckets[bf]
		if b == nil {
			b = &metering.Bucket{From: bf, To: bt}
			buckets[bf] = b
		}
		b.Totals.Add(tot)
	}
	for _, b := range buckets {
		u.Series = append(u.Series, *b)
	}
	slices.SortFunc(u.Series, func(a, b metering.Bucket) int { return a.From.Compare(b.From) })
	return u
}

// writeRecords stores recs through the Writer in a few batches (so the
// rollups hold several unmerged parts).
func writeRecords(t *testing.T, w *Writer, recs []metering.Record) {
	t.Helper()
	ctx := testenv.Context(t, time.Minute)
	for chunk := range slices.Chunk(recs, 97) {
		res, err := w.WriteBatch(ctx, batchOf(chunk...))
		if err != nil {
			t.Fatalf("write batch: %v", err)
		}
		if n := countStored(res); n != len(chunk) {
			t.Fatalf("stored %d of %d records", n, len(chunk))
		}
	}
}

// fixedNow keeps the dataset inside the writer's dedupe window.
func fixedNow() time.Time { return utc(2024, 3, 20, 0, 0, 0) }

func TestReaderUsage(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger(), Now: fixedNow})
	recs := usageDataset()
	writeRecords(t, w, recs)
	rd := NewReader(conn)

	sim := iccid(1)
	tests := []struct {
		name     string
		from, to time.Time
		by       metering.Granularity
		empty    bool // the range holds no records
	}{
		{name: "30 days aligned to days, by day", from: utc(2024, 1, 20, 0, 0, 0), to: utc(2024, 2, 19, 0, 0, 0), by: metering.GranDay},
		{name: "30 days aligned to days, total", from: utc(2024, 1, 20, 0, 0, 0), to: utc(2024, 2, 19, 0, 0, 0), by: metering.GranTotal},
		{name: "2 days by hour", from: utc(2024, 2, 3, 0, 0, 0), to: utc(2024, 2, 5, 0, 0, 0), by: metering.GranHour},
		{name: "2 days by hour, odd minutes", from: utc(2024, 2, 3, 10, 17, 0), to: utc(2024, 2, 5, 14, 43, 0), by: metering.GranHour},
		{name: "by month, whole months", from: utc(2024, 1, 1, 0, 0, 0), to: utc(2024, 4, 1, 0, 0, 0), by: metering.GranMonth},
		{name: "by month, odd minutes", from: utc(2024, 1, 15, 10, 17, 0), to: utc(2024, 3, 3, 14, 43, 0), by: metering.GranMonth},
		{name: "total, odd minutes 3 days apart", from: utc(2024, 2, 3, 10, 17, 0), to: utc(2024, 2, 6, 14, 43, 0), by: metering.GranTotal},
		{name: "by day, odd minutes 3 days apart", from: utc(2024, 2, 3, 10, 17, 0), to: utc(2024, 2, 6, 14, 43, 0), by: metering.GranDay},
		{name: "by hour, odd minutes 3 days apart", from: utc(2024, 2, 3, 10, 17, 0), to: utc(2024, 2, 6, 14, 43, 0), by: metering.GranHour},
		{name: "total, odd seconds", from: utc(2024, 2, 3, 10, 16, 59), to: utc(2024, 2, 6, 14, 42, 59), by: metering.GranTotal},
		{name: "whole hours across midnight, by day", from: utc(2024, 2, 3, 20, 0, 0), to: utc(2024, 2, 4, 4, 0, 0), by: metering.GranDay},
		{name: "within one hour", from: utc(2024, 2, 3, 10, 17, 0), to: utc(2024, 2, 3, 10, 43, 0), by: metering.GranTotal},
		{name: "across an hour without a whole hour, by hour", from: utc(2024, 2, 3, 10, 17, 0), to: utc(2024, 2, 3, 11, 5, 0), by: metering.GranHour},
		{name: "month boundary, by day", from: utc(2024, 1, 31, 23, 0, 0), to: utc(2024, 2, 1, 1, 0, 0), by: metering.GranDay},
		{name: "leap day to March, by month", from: utc(2024, 2, 29, 12, 0, 1), to: utc(2024, 3, 1, 0, 0, 1), by: metering.GranMonth},
		{
			name: "other time zone, by day",
			from: time.Date(2024, 2, 3, 15, 47, 0, 0, time.FixedZone("IST", 5*3600+1800)),
			to:   time.Date(2024, 2, 6, 20, 13, 0, 0, time.FixedZone("IST", 5*3600+1800)),
			by:   metering.GranDay,
		},
		{name: "no records, total", from: utc(2023, 6, 1, 0, 0, 0), to: utc(2023, 7, 1, 0, 0, 0), by: metering.GranTotal, empty: true},
		{name: "no records, by day", from: utc(2023, 6, 1, 10, 17, 0), to: utc(2023, 7, 1, 14, 43, 0), by: metering.GranDay, empty: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := metering.UsageQuery{ICCID: sim, From: tc.from, To: tc.to, By: tc.by}
			want := expectUsage(recs, q)
			if got := want.Totals == (metering.Totals{}); got != tc.empty {
				t.Fatalf("test data: range empty = %v, want %v", got, tc.empty)
			}
			got, err := rd.Usage(testenv.Context(t, 30*time.Second), q)
			if err != nil {
				t.Fatalf("Usage: %v", err)
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("Usage(%s, %s, %s) mismatch (-want +got):\n%s", tc.from, tc.to, tc.by, diff)
			}
		})
	}
}

func TestReaderUsageCountsSessions(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger(), Now: fixedNow})
	sim := iccid(4)
	id := 0
	mk := func(typ metering.UsageType, start time.Time, seq uint32, up, down uint64, dur uint32) metering.Record {
		id++
		return metering.Record{Type: typ, ICCID: sim, StartTime: start, Sequence: seq, BytesUp: up, BytesDown: down, DurationS: dur, NodeID: "pgw", RecordID: strconv.Itoa(id)}
	}
	data, voice, sms := metering.TypeData, metering.TypeVoice, metering.TypeSMS
	recs := []metering.Record{
		// A data session in three parts: raw edge, hourly, daily.
		mk(data, utc(2024, 2, 3, 10, 30, 0), 1, 100, 1000, 600),
		mk(data, utc(2024, 2, 3, 11, 30, 0), 2, 200, 2000, 600),
		mk(data, utc(2024, 2, 4, 12, 0, 0), 3, 300, 3000, 600),
		// A complete data session.
		mk(data, utc(2024, 2, 5, 8, 0, 0), 0, 5, 50, 60),
		// A session that began before the range: its bytes count, it does not.
		mk(data, utc(2024, 2, 3, 10, 0, 0), 1, 1, 1, 60),
		mk(data, utc(2024, 2, 3, 10, 20, 0), 2, 7, 70, 60),
		// Calls: one whole, one in two parts across midnight.
		mk(voice, utc(2024, 2, 6, 14, 42, 59), 0, 0, 0, 120),
		mk(voice, utc(2024, 2, 5, 23, 0, 0), 1, 0, 0, 3600),
		mk(voice, utc(2024, 2, 6, 0, 0, 0), 2, 0, 0, 600),
		// Messages.
		mk(sms, utc(2024, 2, 3, 10, 17, 0), 0, 0, 0, 0),
		mk(sms, utc(2024, 2, 4, 0, 0, 0), 0, 0, 0, 0),
		mk(sms, utc(2024, 2, 6, 14, 0, 0), 0, 0, 0, 0),
		// Just outside [10:17, 14:43).
		mk(data, utc(2024, 2, 3, 10, 16, 59), 0, 1000, 1000, 1),
		mk(voice, utc(2024, 2, 6, 14, 43, 0), 0, 0, 0, 999),
	}
	writeRecords(t, w, recs)
	rd := NewReader(conn)

	wide := metering.Totals{
		Data:  metering.DataUsage{BytesUp: 612, BytesDown: 6120, Sessions: 2},
		Voice: metering.VoiceUsage{Seconds: 4320, Calls: 2},
		SMS:   metering.SMSUsage{Count: 3},
	}
	middle := metering.Totals{
		Data: metering.DataUsage{BytesUp: 500, BytesDown: 5000, Sessions: 0},
		SMS:  metering.SMSUsage{Count: 1},
	}
	ranges := []struct {
		name     string
		from, to time.Time
		want     metering.Totals
	}{
		{"whole sessions", utc(2024, 2, 3, 10, 17, 0), utc(2024, 2, 6, 14, 43, 0), wide},
		{"without the first parts", utc(2024, 2, 3, 11, 0, 0), utc(2024, 2, 5, 0, 0, 0), middle},
	}
	for _, rg := range ranges {
		for _, by := range []metering.Granularity{metering.GranTotal, metering.GranHour, metering.GranDay, metering.GranMonth} {
			t.Run(rg.name+"/"+by.String(), func(t *testing.T) {
				t.Parallel()
				got, err := rd.Usage(testenv.Context(t, 30*time.Second), metering.UsageQuery{ICCID: sim, From: rg.from, To: rg.to, By: by})
				if err != nil {
					t.Fatalf("Usage: %v", err)
				}
				if diff := gocmp.Diff(rg.want, got.Totals); diff != "" {
					t.Errorf("totals mismatch (-want +got):\n%s", diff)
				}
				var sum metering.Totals
				for _, b := range got.Series {
					sum.Add(b.Totals)
				}
				if by != metering.GranTotal && sum != got.Totals {
					t.Errorf("series adds up to %+v, totals are %+v", sum, got.Totals)
				}
			})
		}
	}
}

func TestReaderValidation(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	rd := NewReader(conn)
	sim := iccid(1)
	badLuhn := sim[:len(sim)-1] + string('0'+(sim[len(sim)-1]-'0'+1)%10)
	from := utc(2024, 2, 1, 0, 0, 0)

	usage := []struct {
		name    string
		q       metering.UsageQuery
		wantErr bool
	}{
		{"short iccid", metering.UsageQuery{ICCID: "1234", From: from, To: from.Add(time.Hour)}, true},
		{"iccid with a wrong check digit", metering.UsageQuery{ICCID: badLuhn, From: from, To: from.Add(time.Hour)}, true},
		{"iccid not digits", metering.UsageQuery{ICCID: "89440000000000000x", From: from, To: from.Add(time.Hour)}, true},
		{"from equals to", metering.UsageQuery{ICCID: sim, From: from, To: from}, true},
		{"from after to", metering.UsageQuery{ICCID: sim, From: from, To: from.Add(-time.Second)}, true},
		{"hourly range too long", metering.UsageQuery{ICCID: sim, From: from, To: from.Add(93*24*time.Hour + time.Second), By: metering.GranHour}, true},
		{"hourly range at the limit", metering.UsageQuery{ICCID: sim, From: from, To: from.Add(93 * 24 * time.Hour), By: metering.GranHour}, false},
		{"range too long", metering.UsageQuery{ICCID: sim, From: from, To: from.Add(metering.MaxQueryRange + time.Hour), By: metering.GranMonth}, true},
		{"unknown granularity", metering.UsageQuery{ICCID: sim, From: from, To: from.Add(time.Hour), By: 9}, true},
		// DateTime holds 1970 to 2106: a time outside wrapped around and
		// silently matched nothing.
		{"from before 1970", metering.UsageQuery{ICCID: sim, From: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), To: from}, true},
		{"to after 2105", metering.UsageQuery{ICCID: sim, From: time.Date(2105, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2106, 3, 1, 0, 0, 0, 0, time.UTC), By: metering.GranMonth}, true},
	}
	for _, tc := range usage {
		t.Run("usage/"+tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := rd.Usage(testenv.Context(t, 30*time.Second), tc.q)
			if tc.wantErr && !errors.Is(err, metering.ErrInvalidQuery) {
				t.Fatalf("Usage(%+v) error = %v, want one wrapping ErrInvalidQuery", tc.q, err)
			}
			if !tc.wantErr && err != nil {
				t.Fatalf("Usage(%+v): %v", tc.q, err)
			}
		})
	}

	sessions := []struct {
		name string
		q    metering.SessionQuery
	}{
		{"bad iccid", metering.SessionQuery{ICCID: badLuhn, From: from, To: from.Add(time.Hour)}},
		{"from equals to", metering.SessionQuery{ICCID: sim, From: from, To: from}},
		{"negative limit", metering.SessionQuery{ICCID: sim, From: from, To: from.Add(time.Hour), Limit: -1}},
		{"limit too large", metering.SessionQuery{ICCID: sim, From: from, To: from.Add(time.Hour), Limit: 1001}},
		{"cursor not base64", metering.SessionQuery{ICCID: sim, From: from, To: from.Add(time.Hour), Cursor: "!!!"}},
		{"cursor with two parts", metering.SessionQuery{ICCID: sim, From: from, To: from.Add(time.Hour), Cursor: rawURL("1.2")}},
		{"from before 1970", metering.SessionQuery{ICCID: sim, From: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), To: from}},
		{"to after 2105", metering.SessionQuery{ICCID: sim, From: from, To: time.Date(2106, 3, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tc := range sessions {
		t.Run("sessions/"+tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := rd.Sessions(testenv.Context(t, 30*time.Second), tc.q)
			if !errors.Is(err, metering.ErrInvalidQuery) {
				t.Fatalf("Sessions(%+v) error = %v, want one wrapping ErrInvalidQuery", tc.q, err)
			}
		})
	}
}

func sessionOf(r metering.Record) metering.Session {
	return metering.Session{
		Type: r.Type.String(), StartTime: r.StartTime, DurationS: r.DurationS, BytesUp: r.BytesUp, BytesDown: r.BytesDown,
		MCCMNC: r.MCCMNC, RAT: r.RAT, APN: r.APN, PeerNumber: r.PeerNumber, Sequence: r.Sequence,
		ClosingCause: r.ClosingCause, RecordID: r.RecordID, Parts: 1,
	}
}

func TestReaderSessionsPaging(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger(), Now: fixedNow})
	sim := iccid(3)
	base := utc(2024, 2, 10, 12, 0, 0)
	types := []metering.UsageType{metering.TypeData, metering.TypeVoice, metering.TypeSMS}
	var recs []metering.Record
	for i := range 30 {
		typ := types[i%3]
		r := metering.Record{
			Type: typ, ICCID: sim, StartTime: base.Add(time.Duration(i/4) * 7 * time.Minute), // ties in fours
			NodeID: "node" + strconv.Itoa(i%2), RecordID: fmt.Sprintf("s%02d", i),
			MCCMNC: "310260", RAT: "NR", DurationS: uint32(10 * i), ClosingCause: uint8(i % 4),
		}
		switch typ {
		case metering.TypeData:
			r.BytesUp, r.BytesDown, r.APN, r.Sequence = uint64(i), uint64(100*i), "internet", uint32(i%3)
		default:
			r.PeerNumber = "4477009001" + fmt.Sprintf("%02d", i)
		}
		recs = append(recs, r)
	}
	// Not in any listing below: another SIM, and before the day.
	other := recs[0]
	other.ICCID, other.RecordID = iccid(5), "other"
	early := recs[0]
	early.StartTime, early.RecordID = utc(2024, 2, 9, 23, 59, 59), "early"
	writeRecords(t, w, append(slices.Clone(recs), other, early))
	rd := NewReader(conn)

	// Newest first, ties by key descending.
	slices.SortFunc(recs, func(a, b metering.Record) int {
		ka, kb := a.Key(), b.Key()
		return cmp.Or(b.StartTime.Compare(a.StartTime), cmp.Compare(kb.Hi, ka.Hi), cmp.Compare(kb.Lo, ka.Lo))
	})
	day := [2]time.Time{utc(2024, 2, 10, 0, 0, 0), utc(2024, 2, 11, 0, 0, 0)}
	tests := []struct {
		name     string
		from, to time.Time
		limit    int
		pages    int
	}{
		{"limit 7", day[0], day[1], 7, 5},
		{"limit 5 divides the count", day[0], day[1], 5, 6},
		{"limit 1", day[0], day[1], 1, 30},
		{"limit 4 matches the ties", day[0], day[1], 4, 8},
		{"one full page", day[0], day[1], 30, 1},
		{"default limit", day[0], day[1], 0, 1},
		{"part of the day", base.Add(7 * time.Minute), base.Add(35 * time.Minute), 3, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var want []metering.Session
			for _, r := range recs {
				if !r.StartTime.Before(tc.from) && r.StartTime.Before(tc.to) {
					want = append(want, sessionOf(r))
				}
			}
			ctx := testenv.Context(t, time.Minute)
			q := metering.SessionQuery{ICCID: sim, From: tc.from, To: tc.to, Limit: tc.limit}
			var got []metering.Session
			seen := map[string]bool{}
			pages := 0
			for {
				pages++
				if pages > len(want)+1 {
					t.Fatalf("more than %d pages", len(want)+1)
				}
				page, err := rd.Sessions(ctx, q)
				if err != nil {
					t.Fatalf("page %d: %v", pages, err)
				}
				for _, s := range page.Sessions {
					if seen[s.RecordID] {
						t.Errorf("page %d repeats %s", pages, s.RecordID)
					}
					seen[s.RecordID] = true
				}
				got = append(got, page.Sessions...)
				if page.Next == "" {
					break
				}
				if limit := cmp.Or(tc.limit, 50); len(page.Sessions) != limit {
					t.Errorf("page %d has %d sessions and a next page; want %d", pages, len(page.Sessions), limit)
				}
				q.Cursor = page.Next
			}
			if pages != tc.pages {
				t.Errorf("%d pages, want %d", pages, tc.pages)
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("sessions mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReaderUsageFractionalBounds: records are stored to the second, so a
// bound inside a second must neither count a record before From nor drop
// one before To.
func TestReaderUsageFractionalBounds(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	ctx := testenv.Context(t, time.Minute)
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger()})
	base := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	if _, err := w.WriteBatch(ctx, batchOf(rec(1, 1, base, 10, 0), rec(2, 1, base.Add(time.Minute), 20, 0))); err != nil {
		t.Fatal(err)
	}
	u, err := NewReader(conn).Usage(ctx, metering.UsageQuery{ICCID: iccid(1), From: base.Add(500 * time.Millisecond), To: base.Add(time.Minute + 500*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if u.Data.BytesUp != 20 {
		t.Fatalf("bytes up %d, want 20 (only the record at from+59.5s)", u.Data.BytesUp)
	}
}
