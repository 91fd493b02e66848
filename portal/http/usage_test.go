package http_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/simcore/simcore/metering"
)

func TestUsageAndSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.user()
	l := e.line()
	c.addCard(l.iccid)
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
	var recs []metering.Record
	for i := range 5 {
		recs = append(recs, metering.Record{Type: metering.TypeData, ICCID: l.iccid, StartTime: day.Add(time.Duration(i) * 7 * time.Hour),
			BytesUp: 100, BytesDown: 1000, DurationS: 60, NodeID: "n", RecordID: "d" + strconv.Itoa(i), APN: "internet"})
	}
	recs = append(recs, metering.Record{Type: metering.TypeVoice, ICCID: l.iccid, StartTime: day.Add(30 * time.Hour), DurationS: 90, NodeID: "n", RecordID: "v1", PeerNumber: "972500000002"})
	// Someone else's card's usage stays out.
	recs = append(recs, metering.Record{Type: metering.TypeData, ICCID: e.card(), StartTime: day.Add(time.Hour), BytesUp: 1 << 30, NodeID: "n", RecordID: "x"})
	e.writeUsage(recs)

	from, to := day.Format(time.DateOnly), day.AddDate(0, 0, 3).Format(time.DateOnly)
	q := url.Values{"from": {from}, "to": {to}, "by": {"day"}}
	var u metering.Usage
	c.must(http.StatusOK, "GET", "/v1/sims/"+l.iccid+"/usage?"+q.Encode(), nil).decode(t, &u)
	if u.ICCID != l.iccid || u.Data.BytesUp != 500 || u.Data.BytesDown != 5000 || u.Data.Sessions != 5 || u.Voice.Seconds != 90 || u.Voice.Calls != 1 {
		t.Fatalf("usage %+v", u)
	}
	// 0h, 7h, 14h, 21h on day one; 28h and the call at 30h on day two.
	if len(u.Series) != 2 || u.Series[0].Data.Sessions != 4 || u.Series[1].Data.Sessions != 1 || u.Series[1].Voice.Calls != 1 {
		t.Fatalf("daily series %+v", u.Series)
	}
	// A date as to counts its whole day: from and to the same date is that
	// day (it used to be refused as an empty range).
	for i, want := range []struct{ sessions, calls uint64 }{{4, 0}, {1, 1}} {
		d := day.AddDate(0, 0, i).Format(time.DateOnly)
		var one metering.Usage
		c.must(http.StatusOK, "GET", "/v1/sims/"+l.iccid+"/usage?from="+d+"&to="+d, nil).decode(t, &one)
		if one.Data.Sessions != want.sessions || one.Voice.Calls != want.calls {
			t.Errorf("usage of day %s alone: %d data sessions, %d calls; want %d, %d", d, one.Data.Sessions, one.Voice.Calls, want.sessions, want.calls)
		}
	}
	var total metering.Usage
	c.must(http.StatusOK, "GET", "/v1/sims/"+l.iccid+"/usage?from="+from+"&to="+to, nil).decode(t, &total)
	if total.Totals != u.Totals || total.Series != nil {
		t.Fatalf("total %+v, want the same totals without a series", total)
	}

	var page metering.SessionPage
	c.must(http.StatusOK, "GET", "/v1/sims/"+l.iccid+"/sessions?limit=4&from="+from+"&to="+to, nil).decode(t, &page)
	if len(page.Sessions) != 4 || page.Next == "" || page.Sessions[0].RecordID != "v1" || page.Sessions[0].PeerNumber != "972500000002" {
		t.Fatalf("first page %+v", page)
	}
	var rest metering.SessionPage
	c.must(http.StatusOK, "GET", "/v1/sims/"+l.iccid+"/sessions?"+url.Values{"limit": {"4"}, "from": {from}, "to": {to}, "cursor": {page.Next}}.Encode(), nil).decode(t, &rest)
	if len(rest.Sessions) != 2 || rest.Next != "" || rest.Sessions[1].RecordID != "d0" {
		t.Fatalf("second page %+v", rest)
	}

	for _, tt := range []struct {
		name, query string
		status      int
		code, field string
	}{
		{"from after to", "?from=" + to + "&to=" + from, 400, "invalid_parameter", "from"},
		{"bad from", "?from=yesterday", 400, "invalid_parameter", "from"},
		{"bad granularity", "?by=week", 400, "invalid_parameter", "by"},
		{"hourly over a year", "?by=hour&from=2024-01-01&to=2025-01-01", 422, "invalid_query", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := c.must(tt.status, "GET", "/v1/sims/"+l.iccid+"/usage"+tt.query, nil).problem(t)
			if p.Code != tt.code || p.Field != tt.field {
				t.Fatalf("problem %+v", p)
			}
		})
	}
	if p := c.must(422, "GET", "/v1/sims/"+l.iccid+"/sessions?cursor=garbage", nil).problem(t); p.Code != "invalid_query" {
		t.Fatalf("bad cursor: %+v", p)
	}
	if p := c.must(400, "GET", "/v1/sims/"+l.iccid+"/sessions?limit=5000", nil).problem(t); p.Field != "limit" {
		t.Fatalf("limit too large: %+v", p)
	}
}
