package clickhouse

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
)

// TestUsageRandomRangesMatchRawRecords: totals and series by hour, day and
// month over 400 ranges with edges on records, a second off them, and on
// whole hours, days and months (month ends and 2024-02-29 included) equal
// a reference summed from the 2,000 raw records in Go.
func TestUsageRandomRangesMatchRawRecords(t *testing.T) {
	_, conn := newTestDB(t)
	now := func() time.Time { return utc(2024, 4, 10, 0, 0, 0) }
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger(), Now: now, MaxAge: 200 * 24 * time.Hour})
	r := rand.New(rand.NewPCG(7, 9))
	base, span := utc(2023, 12, 25, 0, 0, 0), int64(100*24*3600)
	var recs []metering.Record
	types := []metering.UsageType{metering.TypeData, metering.TypeVoice, metering.TypeSMS}
	var edges []time.Time
	for i := range 2000 {
		st := base.Add(time.Duration(r.Int64N(span)) * time.Second)
		switch i % 6 {
		case 0:
			st = st.Truncate(time.Hour)
		case 1:
			st = st.Truncate(24 * time.Hour)
		case 2:
			st = time.Date(st.Year(), st.Month(), 1, 0, 0, 0, 0, time.UTC)
		}
		edges = append(edges, st)
		typ := types[r.IntN(3)]
		recs = append(recs, metering.Record{Type: typ, ICCID: iccid(1), StartTime: st, NodeID: "n", RecordID: strconv.Itoa(i),
			BytesUp: r.Uint64N(1000), BytesDown: r.Uint64N(1000), DurationS: uint32(r.IntN(1000)), Sequence: uint32(r.IntN(3))})
	}
	writeRecords(t, w, recs)
	rd := NewReader(conn)
	ctx := testenv.Context(t, 5*time.Minute)
	for i := range 400 {
		pick := func() time.Time {
			switch r.IntN(4) {
			case 0:
				return edges[r.IntN(len(edges))]
			case 1:
				return edges[r.IntN(len(edges))].Add(time.Duration(r.IntN(3)-1) * time.Second)
			default:
				return base.Add(time.Duration(r.Int64N(span)) * time.Second)
			}
		}
		a, b := pick(), pick()
		if b.Before(a) {
			a, b = b, a
		}
		if !a.Before(b) {
			continue
		}
		by := metering.Granularity(r.IntN(4))
		if by == metering.GranHour && b.Sub(a) > 93*24*time.Hour {
			by = metering.GranDay
		}
		q := metering.UsageQuery{ICCID: iccid(1), From: a, To: b, By: by}
		want := expectUsage(recs, q)
		got, err := rd.Usage(ctx, q)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("Usage(%s, %s, %s) mismatch (-want +got):\n%s", a, b, by, diff)
		}
	}
}

// TestSessionsRandomPaging: paging through the sessions of 300 records
// (bearers and standalone records, many with equal start times) at several
// page sizes gives every session once, newest first, its parts summed.
func TestSessionsRandomPaging(t *testing.T) {
	_, conn := newTestDB(t)
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger(), Now: fixedNow})
	r := rand.New(rand.NewPCG(3, 4))
	base := utc(2024, 2, 10, 0, 0, 0)
	var recs []metering.Record
	for i := range 300 {
		st := base.Add(time.Duration(r.IntN(20)) * time.Minute)
		x := metering.Record{Type: metering.TypeData, ICCID: iccid(1), StartTime: st, NodeID: "n", RecordID: "r" + strconv.Itoa(i),
			BytesUp: uint64(i), DurationS: 1}
		if r.IntN(2) == 0 {
			x.PGWAddress = "10.0.0." + strconv.Itoa(r.IntN(3))
			x.ChargingID = uint32(r.IntN(15))
			x.Sequence = uint32(i)
		}
		recs = append(recs, x)
	}
	writeRecords(t, w, recs)
	// Reference: groups.
	type g struct {
		parts int
		up    uint64
		first time.Time
	}
	want := map[string]*g{}
	for _, x := range recs {
		k := x.RecordID
		if x.PGWAddress != "" {
			k = x.PGWAddress + "/" + strconv.Itoa(int(x.ChargingID))
		}
		e := want[k]
		if e == nil {
			e = &g{first: x.StartTime}
			want[k] = e
		}
		e.parts++
		e.up += x.BytesUp
		if x.StartTime.Before(e.first) {
			e.first = x.StartTime
		}
	}
	rd := NewReader(conn)
	ctx := testenv.Context(t, time.Minute)
	for _, limit := range []int{1, 3, 7, 50} {
		q := metering.SessionQuery{ICCID: iccid(1), From: base, To: base.Add(24 * time.Hour), Limit: limit}
		var got []metering.Session
		for range 1000 {
			p, err := rd.Sessions(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, p.Sessions...)
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
		if len(got) != len(want) {
			t.Errorf("limit %d: %d sessions, want %d", limit, len(got), len(want))
		}
		var up uint64
		parts := 0
		for i, s := range got {
			up += s.BytesUp
			parts += int(s.Parts)
			if i > 0 && s.StartTime.After(got[i-1].StartTime) {
				t.Errorf("limit %d: not newest first at %d", limit, i)
			}
		}
		var wup uint64
		for _, e := range want {
			wup += e.up
		}
		if up != wup || parts != len(recs) {
			t.Errorf("limit %d: up %d parts %d, want %d %d", limit, up, parts, wup, len(recs))
		}
	}
}

// TestUsageWithinOneSecond: a valid range that lies inside one second
// holds no record (records start on whole seconds): the answer is empty
// usage, not a ClickHouse error.
func TestUsageWithinOneSecond(t *testing.T) {
	_, conn := newTestDB(t)
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger(), Now: fixedNow})
	at := utc(2024, 2, 3, 10, 0, 0)
	writeRecords(t, w, []metering.Record{rec(1, 1, at, 10, 20), rec(2, 1, at.Add(time.Second), 30, 40)})
	rd := NewReader(conn)
	ctx := testenv.Context(t, time.Minute)
	for _, by := range []metering.Granularity{metering.GranTotal, metering.GranHour, metering.GranDay, metering.GranMonth} {
		q := metering.UsageQuery{ICCID: iccid(1), From: at.Add(200 * time.Millisecond), To: at.Add(700 * time.Millisecond), By: by}
		got, err := rd.Usage(ctx, q)
		if err != nil {
			t.Errorf("Usage(%s, %s, %s): %v; want empty usage", q.From.Format(time.RFC3339Nano), q.To.Format(time.RFC3339Nano), by, err)
			continue
		}
		if got.Totals != (metering.Totals{}) || len(got.Series) != 0 {
			t.Errorf("Usage within one second by %s = %+v, want empty", by, got)
		}
		m, err := rd.UsageMany(ctx, q, []string{iccid(1)})
		if err != nil {
			t.Errorf("UsageMany within one second by %s: %v; want empty usage", by, err)
		} else if m[iccid(1)].Totals != (metering.Totals{}) {
			t.Errorf("UsageMany within one second by %s = %+v, want empty", by, m[iccid(1)])
		}
	}
}
