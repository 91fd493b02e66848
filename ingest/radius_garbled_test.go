package ingest_test

import (
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"github.com/simcore/simcore/ingest"
	iradius "github.com/simcore/simcore/ingest/radius"
	"github.com/simcore/simcore/metering"
)

// TestRADIUSGarbledGigawordsKeepTheSession: one interim whose Gigawords
// are garbage (2^32-1: a delta of about 2^64 octets) is quarantined as
// bytes_too_large, and must not become the session's high mark: the
// updates after it still store the session's real usage, so the stored
// totals equal the Stop's cumulative counters.
func TestRADIUSGarbledGigawordsKeepTheSession(t *testing.T) {
	t.Parallel()
	const imsi = "001010000000079"
	iccid := "894400000000000079" + string(metering.LuhnCheckDigit("894400000000000079"))
	e := newTestEnv(t, ingest.Config{
		Resolver: ingest.NewCachedResolver(&fakeResolver{sims: map[string]string{imsi: iccid}}, 0, 0, nil),
	}, nil)
	sink := &ingest.RecordSink{Pipeline: e.p, Kind: "radius", Name: "radius", Format: ingest.FormatRADIUS}
	srv, err := iradius.New(iradius.Config{Addr: "127.0.0.1:0", Secret: radiusSecret, Log: e.log}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	garbled := acctRequest(t, rfc2866.AcctStatusType_Value_InterimUpdate, "g-1", imsi, 120, 2000, 4000)
	if err := rfc2869.AcctInputGigawords_Set(garbled, 1<<32-1); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name string
		p    *radius.Packet
	}{
		{"interim", acctRequest(t, rfc2866.AcctStatusType_Value_InterimUpdate, "g-1", imsi, 60, 1000, 2000)},
		{"garbled interim", garbled},
		{"garbled interim retransmitted", garbled},
		{"stop", acctRequest(t, rfc2866.AcctStatusType_Value_Stop, "g-1", imsi, 180, 3000, 7000)},
	} {
		if send(t, srv.Addr(), step.p, 10*time.Second) == nil {
			t.Fatalf("%s: no Accounting-Response", step.name)
		}
	}
	rejects := e.rejects(t, "radius")
	for _, r := range rejects {
		if r.Reason != "bytes_too_large" {
			t.Errorf("radius reject %+v, want bytes_too_large", r)
		}
	}
	if len(rejects) != 1 {
		t.Errorf("%d radius rejects, want 1 (the garbled interim, once)", len(rejects))
	}
	if tot := e.totals(t); tot.RecordsDurationS != 180 || tot.BytesUp != 3000 || tot.BytesDown != 7000 || tot.Records != tot.Distinct {
		t.Errorf("usage_records %+v, want duration 180, up 3000, down 7000: the Stop's counters", tot)
	}
}
