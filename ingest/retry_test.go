package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/ingest/ber"
	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/metering/clickhouse"
)

// retryFixture is a BER file and RADIUS records of which some name IMSIs
// that are not in the inventory yet.
type retryFixture struct {
	file    []byte
	radius  []metering.Record
	known   map[string]string // imsi → iccid, in the inventory from the start
	later   map[string]string // imsi → iccid, imported before the retry
	unknown int               // records quarantined as unknown_imsi
	tooOld  int               // of those, records too old once their IMSI is known
}

func simFor(n int) string {
	p := fmt.Sprintf("894400000077%06d", n)
	return p + string(metering.LuhnCheckDigit(p))
}

func newRetryFixture(t *testing.T, maxAge time.Duration) retryFixture {
	t.Helper()
	f := retryFixture{known: map[string]string{}, later: map[string]string{}}
	var imsis []string
	for i := range 6 {
		imsi := fmt.Sprintf("00101%010d", 7700+i)
		imsis = append(imsis, imsi)
		if i < 3 {
			f.known[imsi] = simFor(i)
		} else {
			f.later[imsi] = simFor(i)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	var recs [][]byte
	for i := range 60 {
		seq := uint32(i + 1)
		imsi := imsis[i%len(imsis)]
		start := now.Add(-time.Duration(i+1) * time.Hour)
		if i == 59 {
			// Quarantined for its IMSI; once that is known, older than
			// the window, so it stays quarantined with the new reason.
			start = now.Add(-maxAge - 48*time.Hour)
			f.tooOld++
		}
		if _, ok := f.later[imsi]; ok {
			f.unknown++
		}
		recs = append(recs, ber.Encode(ber.CDRFields{
			IMSI: imsi, MCCMNC: "23415", RATType: 6, OpeningTime: start, Duration: uint32(30 + i),
			ChargingID: uint32(500 + i), Gateway: netip.MustParseAddr("10.0.7.1"), NodeID: "pgw-retry",
			LocalSeq: &seq, Traffic: []ber.Volume{{Up: uint64(100 + i), Down: uint64(1000 + 7*i)}},
		}))
	}
	// A corrupt record: quarantined as ber_malformed, never retried.
	bad := bytes.Clone(recs[0])
	j := bytes.Index(bad, []byte{0x8D, 0x09}) // recordOpeningTime
	bad[j+2] = 0xAA
	recs = append(recs, bad)
	f.file = ber.EncodeFile(recs...)
	for i := range 8 {
		imsi := imsis[i%len(imsis)]
		if _, ok := f.later[imsi]; ok {
			f.unknown++
		}
		f.radius = append(f.radius, metering.Record{
			Type: metering.TypeData, IMSI: imsi, StartTime: now.Add(-time.Duration(i+1) * time.Minute),
			DurationS: 60, BytesUp: uint64(10 * i), BytesDown: uint64(99 * i), NodeID: "nas-retry",
			RecordID: fmt.Sprintf("sess-%d/t60", i), Sequence: 1,
		})
	}
	return f
}

// ingestAll feeds the fixture's BER file and RADIUS records to e.
func (f retryFixture) ingestAll(t *testing.T, e *testEnv) ingest.Summary {
	t.Helper()
	ctx := testenv.Context(t, time.Minute)
	sum, err := e.p.Ingest(ctx, ingest.Source{Kind: "file", Name: "retry.ber", Format: ingest.FormatBER, R: bytes.NewReader(f.file)})
	if err != nil {
		t.Fatalf("ingest BER: %v", err)
	}
	items := make([]ingest.Item, len(f.radius))
	for i, r := range f.radius {
		items[i] = ingest.Item{Record: r, Line: int64(i + 1)}
	}
	s, err := e.p.IngestRecords(ctx, ingest.Source{Kind: "radius", Name: "radius", Format: ingest.FormatRADIUS}, items)
	if err != nil {
		t.Fatalf("ingest RADIUS: %v", err)
	}
	sum.Add(s)
	return sum
}

// failingStates is the real quarantine store whose SetStates fails: a retry
// that dies after its records are stored and before they are marked.
type failingStates struct {
	ingest.QuarantineStore
}

func (failingStates) SetStates(context.Context, []metering.Quarantined) error {
	return errors.New("clickhouse went away")
}

// TestRetryQuarantined quarantines BER and RADIUS records of unknown IMSIs,
// imports the SIMs and retries: each record is stored once, with totals
// equal to a store that knew the SIMs from the start, however often the
// retry runs and even when it dies before marking what it stored.
func TestRetryQuarantined(t *testing.T) {
	t.Parallel()
	const maxAge = 30 * 24 * time.Hour
	fx := newRetryFixture(t, maxAge)
	total := int64(60 + 1 + len(fx.radius))

	// Reference: every SIM known from the start.
	refRes := &fakeResolver{sims: map[string]string{}}
	for imsi, iccid := range fx.known {
		refRes.add(imsi, iccid)
	}
	for imsi, iccid := range fx.later {
		refRes.add(imsi, iccid)
	}
	ref := newTestEnv(t, ingest.Config{Resolver: refRes, MaxAge: maxAge}, nil)
	checkSummary(t, "reference", fx.ingestAll(t, ref), ingest.Summary{
		Read: total, Stored: total - 1 - int64(fx.tooOld), Rejected: 1 + int64(fx.tooOld),
	})

	res := &fakeResolver{sims: map[string]string{}}
	for imsi, iccid := range fx.known {
		res.add(imsi, iccid)
	}
	e := newTestEnv(t, ingest.Config{Resolver: res, MaxAge: maxAge}, nil)
	unknown := int64(fx.unknown)
	checkSummary(t, "first ingest", fx.ingestAll(t, e), ingest.Summary{
		Read: total, Stored: total - 1 - unknown, Rejected: 1 + unknown,
	})
	store := clickhouse.NewQuarantine(e.ch, nil)
	ctx := testenv.Context(t, 2*time.Minute)

	// Nothing changed yet: the records fail again, for the same reason.
	sum, err := e.p.RetryQuarantined(ctx, store, ingest.RetryOptions{})
	if err != nil {
		t.Fatalf("retry before the import: %v", err)
	}
	checkSummary(t, "retry before the import", sum, ingest.Summary{Read: unknown, Rejected: unknown})

	for imsi, iccid := range fx.later {
		res.add(imsi, iccid)
	}
	// Dies after storing, before marking: the records are stored once.
	sum, err = e.p.RetryQuarantined(ctx, failingStates{store}, ingest.RetryOptions{PageSize: 7})
	if err == nil {
		t.Fatal("retry with failing marks returned no error")
	}
	if sum.Stored == 0 || sum.Read != sum.Stored+sum.Duplicates+sum.Rejected {
		t.Fatalf("failed retry summary %+v: want some records stored, and counts that add up", sum)
	}
	stored := unknown - int64(fx.tooOld)
	sum, err = e.p.RetryQuarantined(ctx, store, ingest.RetryOptions{PageSize: 7})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if sum.Read != unknown || sum.Stored+sum.Duplicates != stored || sum.Rejected != int64(fx.tooOld) || sum.Duplicates == 0 {
		t.Fatalf("retry after the failed one: %+v, want %d read, %d stored or duplicates (some duplicates), %d rejected", sum, unknown, stored, fx.tooOld)
	}
	if got, want := e.totals(t), ref.totals(t); got != want {
		t.Errorf("after retry totals %+v, want those of a store that knew the SIMs: %+v", got, want)
	}

	// Resolved records and those now failing for another reason are not
	// taken again.
	sum, err = e.p.RetryQuarantined(ctx, store, ingest.RetryOptions{})
	if err != nil {
		t.Fatalf("second retry: %v", err)
	}
	checkSummary(t, "second retry", sum, ingest.Summary{})
	sum, err = e.p.RetryQuarantined(ctx, store, ingest.RetryOptions{Reasons: []string{"start_time_too_old"}, Source: "retry.ber"})
	if err != nil {
		t.Fatalf("retry of too old records: %v", err)
	}
	checkSummary(t, "retry of too old records", sum, ingest.Summary{Read: int64(fx.tooOld), Rejected: int64(fx.tooOld)})
	if _, err := e.p.RetryQuarantined(ctx, store, ingest.RetryOptions{Reasons: []string{ingest.ReasonBERMalformed}}); !errors.Is(err, ingest.ErrNotRetryable) {
		t.Errorf("retry of ber_malformed: %v, want ErrNotRetryable", err)
	}

	// A replay of the sources now finds every record stored.
	checkSummary(t, "replay", fx.ingestAll(t, e), ingest.Summary{
		Read: total, Duplicates: total - 1 - int64(fx.tooOld), Rejected: 1 + int64(fx.tooOld),
	})
	if got, want := e.totals(t), ref.totals(t); got != want {
		t.Errorf("after replay totals %+v, want %+v", got, want)
	}
	pending, err := store.Pending(ctx, metering.QuarantineFilter{Reasons: []string{ingest.ReasonUnknownIMSI, "start_time_too_old", ingest.ReasonBERMalformed}, Formats: ingest.RetryFormats}, metering.Key{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, p := range pending {
		reasons[p.Reason]++
	}
	if want := map[string]int{"start_time_too_old": fx.tooOld, ingest.ReasonBERMalformed: 1}; fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Errorf("still quarantined by reason %v, want %v", reasons, want)
	}
}
