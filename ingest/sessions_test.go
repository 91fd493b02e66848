package ingest_test

import (
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/ingest/ber"
	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/metering/clickhouse"
)

// bearer is one data bearer of the fixture, delivered as partial records.
type bearer struct {
	gw    string
	cid   uint32
	parts int
	first time.Time // opening time of part 1
	step  time.Duration
}

// TestSessionsGroupPartialRecords ingests partial PGW-CDRs of several
// bearers (some sharing a chargingID on different gateways, one complete
// record without recordSequenceNumber) and CSV records that name no bearer,
// then pages through the session list: one session per (gateway,
// chargingID) with its parts, first start and summed duration and volumes,
// one per other record, each exactly once whatever the page size.
func TestSessionsGroupPartialRecords(t *testing.T) {
	t.Parallel()
	const imsi = "001010000004242"
	sim := simFor(4242)
	e := newTestEnv(t, ingest.Config{Resolver: &fakeResolver{sims: map[string]string{imsi: sim}}}, nil)
	ctx := testenv.Context(t, 2*time.Minute)
	t0 := time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Hour)

	bearers := []bearer{
		{gw: "10.0.0.1", cid: 100, parts: 4, first: t0, step: 15 * time.Minute},
		{gw: "10.0.0.1", cid: 101, parts: 3, first: t0.Add(20 * time.Minute), step: 10 * time.Minute},
		{gw: "10.0.0.2", cid: 100, parts: 2, first: t0.Add(5 * time.Minute), step: 30 * time.Minute}, // same chargingID, other P-GW
		{gw: "2001:db8::7", cid: 7, parts: 5, first: t0.Add(-2 * time.Hour), step: time.Hour},
		{gw: "10.0.0.1", cid: 102, parts: 1, first: t0.Add(20 * time.Minute)}, // complete: no recordSequenceNumber; ties with cid 101
	}
	var (
		want    []metering.Session
		seq     uint32
		encoded [][]byte
	)
	for _, b := range bearers {
		s := metering.Session{Type: "data", StartTime: b.first, Parts: uint32(b.parts), ChargingID: b.cid, PGWAddress: b.gw,
			MCCMNC: "23415", RAT: "EUTRAN", APN: "iot.example"}
		for p := range b.parts {
			seq++
			local := seq
			f := ber.CDRFields{
				IMSI: imsi, APN: "iot.example", MCCMNC: "23415", RATType: 6,
				OpeningTime: b.first.Add(time.Duration(p) * b.step), Duration: uint32(60 + p), Cause: 17,
				ChargingID: b.cid, Gateway: netip.MustParseAddr(b.gw), NodeID: "pgw-sessions", LocalSeq: &local,
				Traffic: []ber.Volume{{Up: uint64(100*seq + 1), Down: uint64(1000*seq + 3)}},
			}
			if b.parts > 1 {
				rs := uint32(p + 1)
				f.RecordSeq = &rs
				s.Sequence = rs
			}
			if p == b.parts-1 && b.cid != 101 {
				f.Cause = 0 // the last part closes the bearer normally; 101 is still open
			}
			s.ClosingCause = f.Cause // the last part's
			if p == 0 {
				s.RecordID = fmt.Sprint(local)
			}
			s.DurationS += f.Duration
			s.BytesUp += f.Traffic[0].Up
			s.BytesDown += f.Traffic[0].Down
			encoded = append(encoded, ber.Encode(f))
		}
		want = append(want, s)
	}
	// Deliver in an order unlike the bearers'.
	slices.Reverse(encoded)
	sum, err := e.p.Ingest(ctx, ingest.Source{Kind: "file", Name: "sessions.ber", Format: ingest.FormatBER, R: bytes.NewReader(ber.EncodeFile(encoded...))})
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, "ber", sum, ingest.Summary{Read: int64(seq), Stored: int64(seq)})

	// Records without a bearer: one session each, even with equal starts.
	var csv strings.Builder
	csv.WriteString(ingest.GenHeader + "\n")
	for i := range 3 {
		start := t0.Add(time.Duration(i*25) * time.Minute)
		fmt.Fprintf(&csv, "csv-%d,csv-node,data,%s,,,%s,30,%d,%d,23415,NR,,,%d,0\n", i, sim, start.Format(time.RFC3339), 7+i, 70+i, i%2)
		want = append(want, metering.Session{Type: "data", StartTime: start, DurationS: 30, BytesUp: uint64(7 + i), BytesDown: uint64(70 + i),
			MCCMNC: "23415", RAT: "NR", Sequence: uint32(i % 2), RecordID: fmt.Sprintf("csv-%d", i), Parts: 1})
	}
	if _, err := e.p.Ingest(ctx, ingest.Source{Kind: "file", Name: "s.csv", Format: ingest.FormatCSV, R: strings.NewReader(csv.String())}); err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(want, func(a, b metering.Session) int { return b.StartTime.Compare(a.StartTime) })

	rd := clickhouse.NewReader(e.ch)
	from, to := t0.Add(-24*time.Hour), t0.Add(24*time.Hour)
	for _, limit := range []int{1, 2, 3, 4, 50} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			got := listSessions(t, rd, metering.SessionQuery{ICCID: sim, From: from, To: to, Limit: limit})
			// Equal first starts come in an order of the store's choosing;
			// compare by start, then by record id.
			byStart := func(a, b metering.Session) int {
				return cmp.Or(b.StartTime.Compare(a.StartTime), cmp.Compare(a.RecordID, b.RecordID))
			}
			if !slices.IsSortedFunc(got, func(a, b metering.Session) int { return b.StartTime.Compare(a.StartTime) }) {
				t.Errorf("sessions not newest first")
			}
			w := slices.Clone(want)
			slices.SortFunc(w, byStart)
			slices.SortFunc(got, byStart)
			if diff := gocmp.Diff(w, got); diff != "" {
				t.Errorf("sessions (-want +got):\n%s", diff)
			}
		})
	}

	// A range that cuts a bearer counts only its parts inside: the first
	// bearer's last two parts.
	got := listSessions(t, rd, metering.SessionQuery{ICCID: sim, From: t0.Add(30 * time.Minute), To: t0.Add(46 * time.Minute)})
	var cut *metering.Session
	for i := range got {
		if got[i].PGWAddress == "10.0.0.1" && got[i].ChargingID == 100 {
			cut = &got[i]
		}
	}
	if cut == nil || cut.Parts != 2 || !cut.StartTime.Equal(t0.Add(30*time.Minute)) {
		t.Errorf("cut session = %+v, want 2 parts from %s", cut, t0.Add(30*time.Minute))
	}

	// The rollups count a session on its first part: the same number.
	u, err := rd.Usage(ctx, metering.UsageQuery{ICCID: sim, From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	if u.Data.Sessions != uint64(len(want)) {
		t.Errorf("usage counts %d data sessions, the list has %d", u.Data.Sessions, len(want))
	}
}

// listSessions pages through q and fails on a repeated session.
func listSessions(t *testing.T, rd *clickhouse.Reader, q metering.SessionQuery) []metering.Session {
	t.Helper()
	ctx := testenv.Context(t, time.Minute)
	var all []metering.Session
	seen := map[string]bool{}
	for pages := 1; ; pages++ {
		if pages > 100 {
			t.Fatal("more than 100 pages")
		}
		page, err := rd.Sessions(ctx, q)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, s := range page.Sessions {
			if seen[s.RecordID] {
				t.Errorf("page %d repeats the session of %s", pages, s.RecordID)
			}
			seen[s.RecordID] = true
		}
		all = append(all, page.Sessions...)
		if page.Next == "" {
			return all
		}
		if q.Limit > 0 && len(page.Sessions) != q.Limit {
			t.Errorf("page %d has %d sessions and a next page", pages, len(page.Sessions))
		}
		q.Cursor = page.Next
	}
}
