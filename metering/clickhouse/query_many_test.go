package clickhouse

import (
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
)

// TestReaderUsageMany: one query over several ICCIDs answers each as Usage
// does, an ICCID without usage included.
func TestReaderUsageMany(t *testing.T) {
	t.Parallel()
	_, conn := newTestDB(t)
	w := newTestWriter(t, WriterConfig{Conn: conn, Ledger: newMemLedger(), Now: fixedNow})
	recs := usageDataset()
	writeRecords(t, w, recs)
	rd := NewReader(conn)
	sims := []string{iccid(1), iccid(2), iccid(3), iccid(99)}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		by       metering.Granularity
	}{
		{"30 days by day", utc(2024, 1, 20, 0, 0, 0), utc(2024, 2, 19, 0, 0, 0), metering.GranDay},
		{"total, odd seconds", utc(2024, 2, 3, 10, 16, 59), utc(2024, 2, 6, 14, 42, 59), metering.GranTotal},
		{"by hour, odd minutes", utc(2024, 2, 3, 10, 17, 0), utc(2024, 2, 6, 14, 43, 0), metering.GranHour},
		{"by month", utc(2024, 1, 15, 10, 17, 0), utc(2024, 3, 3, 14, 43, 0), metering.GranMonth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := metering.UsageQuery{From: tc.from, To: tc.to, By: tc.by}
			got, err := rd.UsageMany(testenv.Context(t, 30*time.Second), q, sims)
			if err != nil {
				t.Fatalf("UsageMany: %v", err)
			}
			want := map[string]metering.Usage{}
			for _, s := range sims {
				q.ICCID = s
				want[s] = expectUsage(recs, q)
			}
			if want[iccid(1)].Totals == (metering.Totals{}) {
				t.Fatal("test data: no usage of the first SIM in the range")
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("UsageMany mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := rd.UsageMany(testenv.Context(t, 30*time.Second), metering.UsageQuery{From: utc(2024, 2, 1, 0, 0, 0), To: utc(2024, 1, 1, 0, 0, 0)}, sims); err == nil {
		t.Fatal("UsageMany with from after to: no error")
	}
}
