package ingest_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/internal/testenv"
)

// TestSpoolCountsFiles: a spool file rejected whole (unknown format, a
// header the feed changed, a truncated BER file) stores no record, so
// simcore_ingest_records_total never moves and no alert could fire on it:
// a day's CDRs sat in rejected/ with only a log line. Files are counted by
// outcome.
func TestSpoolCountsFiles(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, ingest.Config{}, nil)
	ctx := testenv.Context(t, time.Minute)
	dir := t.TempDir()
	sp := &ingest.Spool{Dir: dir, Pipeline: env.p, Log: env.log, Settle: time.Second}
	writeSettled(t, filepath.Join(dir, "good.csv"), genFeed(t, 21, 10, "spool-files").text)
	writeSettled(t, filepath.Join(dir, "header.csv"), "node_id,type,iccid,start_time\nn,data,89441000000000000018,2024-01-01T00:00:00Z\n")
	writeSettled(t, filepath.Join(dir, "x.xml"), "<usage/>\n")
	if _, err := sp.ScanOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for outcome, want := range map[string]float64{"ingested": 1, "rejected": 2} {
		if got := labelledCounter(t, env.reg, "simcore_ingest_files_total", "outcome", outcome); got != want {
			t.Errorf("simcore_ingest_files_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// labelledCounter sums the counter name's series whose label has value.
func labelledCounter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					v += m.GetCounter().GetValue()
				}
			}
		}
	}
	return v
}
