package ingest_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
	"github.com/simcore/simcore/metering/clickhouse"
	"github.com/simcore/simcore/metering/postgres"
)

// testEnv is a running pipeline that stores into a ClickHouse database and
// coordinates through a PostgreSQL ledger, both the test's own.
type testEnv struct {
	ch  driver.Conn
	p   *ingest.Pipeline
	reg *prometheus.Registry
	log *slog.Logger
	// chCfg and pgURL name the stores, for a peer (newPeerEnv).
	chCfg clickhouse.Config
	pgURL string
	// stop cancels Run's context and waits for Run to return; it is safe
	// to call more than once and runs at cleanup anyway.
	stop func() error
}

// newTestEnv migrates fresh stores, builds the real ClickHouse writer (wrapped
// by wrap, if set, to inject faults) and starts a pipeline with cfg. Writer,
// Log and Registry are filled in; MaxBatch, MaxWait and ChunkSize default to
// small values so a few thousand records make several batches.
func newTestEnv(t testing.TB, cfg ingest.Config, wrap func(ingest.BatchWriter) ingest.BatchWriter) *testEnv {
	t.Helper()
	ctx := testenv.Context(t, 2*time.Minute)

	chCfg := clickhouse.Config{Addr: testenv.ClickHouseAddr(t), Database: testenv.UniqueName("t_")}
	if _, err := clickhouse.Migrate(ctx, chCfg); err != nil {
		t.Fatalf("migrate clickhouse: %v", err)
	}
	conn, err := clickhouse.Open(ctx, chCfg)
	if err != nil {
		t.Fatalf("open clickhouse: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		if err := clickhouse.DropDatabase(context.Background(), chCfg); err != nil {
			t.Logf("drop %s: %v", chCfg.Database, err)
		}
	})

	pgURL := testenv.Postgres(t, "metering", postgres.MigrationsVersion(), postgres.Migrate)
	env := startTestEnv(t, conn, pgURL, cfg, wrap)
	env.chCfg = chCfg
	return env
}

// newPeerEnv starts another pipeline, with a writer of its own, on the
// stores of of: a second ingest process against the same ClickHouse and
// PostgreSQL.
func newPeerEnv(t testing.TB, of *testEnv, cfg ingest.Config) *testEnv {
	t.Helper()
	ctx := testenv.Context(t, 2*time.Minute)
	conn, err := clickhouse.Open(ctx, of.chCfg)
	if err != nil {
		t.Fatalf("open clickhouse: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	env := startTestEnv(t, conn, of.pgURL, cfg, nil)
	env.chCfg = of.chCfg
	return env
}

func startTestEnv(t testing.TB, conn driver.Conn, pgURL string, cfg ingest.Config, wrap func(ingest.BatchWriter) ingest.BatchWriter) *testEnv {
	t.Helper()
	ctx := testenv.Context(t, 2*time.Minute)
	pool, err := pgxpool.New(context.Background(), pgURL)
	if err != nil {
		t.Fatalf("open postgres pool: %v", err)
	}
	t.Cleanup(pool.Close)

	log := testLogger(t)
	if _, fuzzing := t.(*testing.F); fuzzing {
		// A fuzz run's inputs are hostile by design: the pipeline's
		// warnings about them would pile up in F's output for the whole
		// run. The fuzz target checks outcomes, not logs.
		log = slog.New(slog.DiscardHandler)
	}
	w, err := clickhouse.NewWriter(ctx, clickhouse.WriterConfig{
		Conn: conn, Ledger: postgres.NewLedger(pool), MaxAge: 90 * 24 * time.Hour, Log: log,
	})
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	cfg.Writer = w
	if wrap != nil {
		cfg.Writer = wrap(w)
	}
	reg := prometheus.NewRegistry()
	cfg.Log, cfg.Registry = log, reg
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 500
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = 50 * time.Millisecond
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = 16 << 10
	}
	p, err := ingest.New(cfg)
	if err != nil {
		t.Fatalf("ingest.New: %v", err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	var (
		once   sync.Once
		runErr error
	)
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(time.Minute):
				runErr = errors.New("Run did not return within a minute of its context ending")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("pipeline Run: %v", err)
		}
	})
	return &testEnv{ch: conn, p: p, reg: reg, log: log, pgURL: pgURL, stop: stop}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// feedLine is one data line of a feed as the test reads it, independently
// of the package's parsers.
type feedLine struct {
	line   int64             // 1-based line number in the text
	raw    string            // the line without its newline
	fields map[string]string // by column name; only the columns present
	reason string            // why the pipeline must reject it; "" if valid
}

// feed is a source's text with the test's own reading of it.
type feed struct {
	text  string
	lines []feedLine
	gen   ingest.GenStats
}

// genFeed generates a canonical CSV feed of records starting within the last
// 30 days and ending 2 days ago (so nothing is in the future), and reads it
// back with encoding/csv.
func genFeed(t *testing.T, seed int64, records int, node string) feed {
	t.Helper()
	var b strings.Builder
	st, err := ingest.GenerateCSV(&b, ingest.GenConfig{
		Records: records, SIMs: 300, Seed: seed, NodeID: node,
		Start: time.Now().UTC().Add(-30 * 24 * time.Hour).Truncate(time.Hour), Days: 28,
		DupRate: 0.08, BadRate: 0.04,
	})
	if err != nil {
		t.Fatalf("GenerateCSV: %v", err)
	}
	f := readCSVFeed(t, b.String())
	f.gen = st
	// The test's reading must agree with what the generator says it wrote.
	w := f.want()
	if got, want := [3]int64{w.Stored, w.Duplicates, w.Rejected}, [3]int64{int64(st.Unique), int64(st.Duplicates), int64(st.Bad)}; got != want {
		t.Fatalf("test reads the feed as (distinct, duplicates, bad) %v, generator wrote %v", got, want)
	}
	return f
}

// readCSVFeed classifies each line of a canonical CSV text the way the
// parser must: wrong field count, then unparsable start time, then a bad
// ICCID check digit (the faults GenerateCSV makes).
func readCSVFeed(t *testing.T, text string) feed {
	t.Helper()
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		t.Fatalf("read header: %v", err)
	}
	raws := strings.Split(text, "\n")
	f := feed{text: text}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return f
		}
		if err != nil {
			t.Fatalf("read csv: %v", err)
		}
		line, _ := r.FieldPos(0)
		fl := feedLine{line: int64(line), raw: raws[line-1], fields: map[string]string{}}
		for i, v := range rec {
			fl.fields[header[i]] = v
		}
		if _, err := time.Parse(time.RFC3339, fl.fields["start_time"]); len(rec) != len(header) {
			fl.reason = "csv_field_count"
		} else if err != nil {
			fl.reason = "bad_start_time"
		} else if !metering.LuhnValid(fl.fields["iccid"]) {
			fl.reason = "iccid_luhn"
		}
		f.lines = append(f.lines, fl)
	}
}

// ndjson turns a CSV feed into NDJSON, one object per line with the same
// values (counters as JSON numbers), plus one line that is not JSON.
func (f feed) ndjson(t *testing.T) feed {
	t.Helper()
	numeric := map[string]bool{"duration_s": true, "bytes_up": true, "bytes_down": true, "sequence": true, "closing_cause": true}
	var (
		b   strings.Builder
		out feed
	)
	for i, fl := range f.lines {
		obj := map[string]any{}
		for k, v := range fl.fields {
			switch {
			case v == "":
			case numeric[k]:
				obj[k] = json.Number(v)
			default:
				obj[k] = v
			}
		}
		line, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		reason := fl.reason
		if reason == "csv_field_count" {
			reason = "missing_start_time" // the cut line lacks the field
		}
		out.lines = append(out.lines, feedLine{line: int64(i + 1), raw: string(line), fields: fl.fields, reason: reason})
		b.Write(line)
		b.WriteByte('\n')
	}
	const broken = `{"record_id": "broken", "type": "data"`
	out.lines = append(out.lines, feedLine{line: int64(len(f.lines) + 1), raw: broken, reason: "json_syntax"})
	b.WriteString(broken + "\n")
	out.text = b.String()
	return out
}

// want is the summary of ingesting the feed into an empty store.
func (f feed) want() ingest.Summary {
	var s ingest.Summary
	seen := map[[2]string]bool{}
	for _, fl := range f.lines {
		s.Read++
		switch k := [2]string{fl.fields["node_id"], fl.fields["record_id"]}; {
		case fl.reason != "":
			s.Rejected++
		case seen[k]:
			s.Duplicates++
		default:
			seen[k] = true
			s.Stored++
		}
	}
	return s
}

// again is the summary of ingesting the feed once more: every valid line is
// a duplicate.
func (f feed) again() ingest.Summary {
	s := f.want()
	return ingest.Summary{Read: s.Read, Duplicates: s.Stored + s.Duplicates, Rejected: s.Rejected}
}

// totals are what the store must hold: usage_records and its rollups.
type totals struct {
	Records, Distinct, BytesUp, BytesDown             uint64
	HourlyRecords, HourlyBytesUp, HourlyBytesDown     uint64
	DailyRecords, DailyBytesUp, DailyBytesDown        uint64
	HourlyDurationS, DailyDurationS, RecordsDurationS uint64
}

// wantTotals adds up the distinct valid records of the feeds.
func wantTotals(t *testing.T, feeds ...feed) totals {
	t.Helper()
	var tot totals
	for _, f := range feeds {
		seen := map[[2]string]bool{}
		for _, fl := range f.lines {
			k := [2]string{fl.fields["node_id"], fl.fields["record_id"]}
			if fl.reason != "" || seen[k] {
				continue
			}
			seen[k] = true
			tot.Records++
			tot.BytesUp += mustUint(t, fl.fields["bytes_up"])
			tot.BytesDown += mustUint(t, fl.fields["bytes_down"])
			tot.RecordsDurationS += mustUint(t, fl.fields["duration_s"])
		}
	}
	tot.Distinct = tot.Records
	tot.HourlyRecords, tot.DailyRecords = tot.Records, tot.Records
	tot.HourlyBytesUp, tot.DailyBytesUp = tot.BytesUp, tot.BytesUp
	tot.HourlyBytesDown, tot.DailyBytesDown = tot.BytesDown, tot.BytesDown
	tot.HourlyDurationS, tot.DailyDurationS = tot.RecordsDurationS, tot.RecordsDurationS
	return tot
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	if s == "" {
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("feed value %q: %v", s, err)
	}
	return n
}

// totals reads what the store holds. The rollups are SummingMergeTree
// tables: sum() over their unmerged rows is already the total.
func (e *testEnv) totals(t *testing.T) totals {
	t.Helper()
	ctx := testenv.Context(t, 30*time.Second)
	var tot totals
	for _, q := range []struct {
		sql  string
		dest []any
	}{
		{"SELECT count(), uniqExact(node_id, record_id), sum(bytes_up), sum(bytes_down), sum(toUInt64(duration_s)) FROM usage_records",
			[]any{&tot.Records, &tot.Distinct, &tot.BytesUp, &tot.BytesDown, &tot.RecordsDurationS}},
		{"SELECT sum(records), sum(bytes_up), sum(bytes_down), sum(duration_s) FROM usage_hourly",
			[]any{&tot.HourlyRecords, &tot.HourlyBytesUp, &tot.HourlyBytesDown, &tot.HourlyDurationS}},
		{"SELECT sum(records), sum(bytes_up), sum(bytes_down), sum(duration_s) FROM usage_daily",
			[]any{&tot.DailyRecords, &tot.DailyBytesUp, &tot.DailyBytesDown, &tot.DailyDurationS}},
	} {
		if err := e.ch.QueryRow(ctx, q.sql).Scan(q.dest...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	return tot
}

// storedCount is count() of usage_records.
func (e *testEnv) storedCount(t *testing.T) int64 {
	t.Helper()
	var (
		n   uint64
		err error
	)
	// A cancelled insert makes clickhouse-go close its connection, and the
	// pool can hand that connection out once more before it notices
	// ("use of closed network connection"): the writer retries such an
	// error, and so does this count.
	for range 3 {
		if err = e.ch.QueryRow(testenv.Context(t, 30*time.Second), "SELECT count() FROM usage_records").Scan(&n); err == nil {
			return int64(n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal(err)
	return 0
}

// rejectRow is a quarantined line as the test compares it.
type rejectRow struct {
	Format, Reason, Raw string
}

// wantRejects are the feed's bad lines by line number.
func (f feed) wantRejects(format string) map[int64]rejectRow {
	m := map[int64]rejectRow{}
	for _, fl := range f.lines {
		if fl.reason != "" {
			m[fl.line] = rejectRow{Format: format, Reason: fl.reason, Raw: fl.raw}
		}
	}
	return m
}

// rejects reads rejected_records (FINAL, so replays collapse) of one source
// by line number; every row must carry a detail.
func (e *testEnv) rejects(t *testing.T, source string) map[int64]rejectRow {
	t.Helper()
	rows, err := e.ch.Query(testenv.Context(t, 30*time.Second),
		"SELECT line, format, reason, detail, raw FROM rejected_records FINAL WHERE source = ?", source)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[int64]rejectRow{}
	for rows.Next() {
		var (
			line   int64
			r      rejectRow
			detail string
		)
		if err := rows.Scan(&line, &r.Format, &r.Reason, &detail, &r.Raw); err != nil {
			t.Fatal(err)
		}
		if detail == "" {
			t.Errorf("reject at line %d (%s) has no detail", line, r.Reason)
		}
		if _, dup := m[line]; dup {
			t.Errorf("line %d quarantined twice", line)
		}
		m[line] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// recordsByOutcome reads simcore_ingest_records_total summed by outcome.
func recordsByOutcome(t *testing.T, reg *prometheus.Registry) ingest.Summary {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var s ingest.Summary
	for _, mf := range mfs {
		if mf.GetName() != "simcore_ingest_records_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			v := int64(m.GetCounter().GetValue())
			for _, l := range m.GetLabel() {
				if l.GetName() != "outcome" {
					continue
				}
				switch l.GetValue() {
				case "stored":
					s.Stored += v
				case "duplicate":
					s.Duplicates += v
				case "rejected":
					s.Rejected += v
				}
			}
		}
	}
	s.Read = s.Stored + s.Duplicates + s.Rejected
	return s
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var v float64
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
			return v
		}
	}
	return 0
}

func checkSummary(t *testing.T, what string, got, want ingest.Summary) {
	t.Helper()
	if got.Read != got.Stored+got.Duplicates+got.Rejected {
		t.Errorf("%s: %+v breaks read = stored + duplicates + rejected", what, got)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s summary (-want +got):\n%s", what, diff)
	}
}

func TestPipelineStoresEachValidRecordOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     ingest.Config
		records int
	}{
		{name: "small batches, parallel parsers", cfg: ingest.Config{MaxBatch: 500, Parsers: 4, ChunkSize: 16 << 10}, records: 6000},
		{name: "one parser, tiny chunks", cfg: ingest.Config{MaxBatch: 333, Parsers: 1, ChunkSize: 1 << 10}, records: 3000},
		{name: "whole file in one batch", cfg: ingest.Config{MaxBatch: 50_000, Parsers: 2}, records: 3000},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, tt.cfg, nil)
			ctx := testenv.Context(t, 2*time.Minute)
			f := genFeed(t, int64(100+i), tt.records, "")
			src := func() ingest.Source {
				return ingest.Source{Kind: "file", Name: "usage.csv", Format: ingest.FormatCSV, R: strings.NewReader(f.text)}
			}

			sum, err := env.p.Ingest(ctx, src())
			if err != nil {
				t.Fatalf("Ingest: %v", err)
			}
			checkSummary(t, "first ingest", sum, f.want())
			want := wantTotals(t, f)
			if diff := cmp.Diff(want, env.totals(t)); diff != "" {
				t.Errorf("stored totals (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(f.wantRejects(ingest.FormatCSV), env.rejects(t, "usage.csv")); diff != "" {
				t.Errorf("rejected_records (-want +got):\n%s", diff)
			}

			// The same file again: nothing new, every valid line a duplicate.
			sum, err = env.p.Ingest(ctx, src())
			if err != nil {
				t.Fatalf("Ingest again: %v", err)
			}
			checkSummary(t, "second ingest", sum, f.again())
			if diff := cmp.Diff(want, env.totals(t)); diff != "" {
				t.Errorf("stored totals after the second ingest (-want +got):\n%s", diff)
			}
			if got, want := len(env.rejects(t, "usage.csv")), int(f.want().Rejected); got != want {
				t.Errorf("rejected_records FINAL after the second ingest: %d rows, want %d", got, want)
			}
			both := f.want()
			both.Add(f.again())
			if diff := cmp.Diff(both, recordsByOutcome(t, env.reg)); diff != "" {
				t.Errorf("simcore_ingest_records_total by outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPipelineNDJSON(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, ingest.Config{Parsers: 3, ChunkSize: 8 << 10}, nil)
	ctx := testenv.Context(t, 2*time.Minute)
	f := genFeed(t, 7, 3000, "json-node").ndjson(t)
	src := func() ingest.Source {
		return ingest.Source{Kind: "file", Name: "usage.ndjson", Format: ingest.FormatNDJSON, R: strings.NewReader(f.text)}
	}

	sum, err := env.p.Ingest(ctx, src())
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	checkSummary(t, "first ingest", sum, f.want())
	if diff := cmp.Diff(wantTotals(t, f), env.totals(t)); diff != "" {
		t.Errorf("stored totals (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(f.wantRejects(ingest.FormatNDJSON), env.rejects(t, "usage.ndjson")); diff != "" {
		t.Errorf("rejected_records (-want +got):\n%s", diff)
	}
	sum, err = env.p.Ingest(ctx, src())
	if err != nil {
		t.Fatalf("Ingest again: %v", err)
	}
	checkSummary(t, "second ingest", sum, f.again())
}

var errInjected = errors.New("injected write failure")

// flakyWriter fails its first failFirst calls, either before writing or
// after the real writer stored the batch (an insert whose outcome the
// caller never learned).
type flakyWriter struct {
	w         ingest.BatchWriter
	failFirst int64
	after     bool
	calls     atomic.Int64
}

func (f *flakyWriter) WriteBatch(ctx context.Context, b *metering.Batch) (metering.WriteResult, error) {
	if f.calls.Add(1) > f.failFirst {
		return f.w.WriteBatch(ctx, b)
	}
	if f.after {
		if _, err := f.w.WriteBatch(ctx, b); err != nil {
			return metering.WriteResult{}, err
		}
	}
	return metering.WriteResult{}, errInjected
}

func TestPipelineRetriesFailedWrites(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fails int64
		after bool
	}{
		{name: "fails before writing", fails: 4},
		{name: "fails after the batch landed", fails: 3, after: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fw := &flakyWriter{failFirst: tt.fails, after: tt.after}
			env := newTestEnv(t, ingest.Config{RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond},
				func(w ingest.BatchWriter) ingest.BatchWriter { fw.w = w; return fw })
			ctx := testenv.Context(t, 2*time.Minute)
			f := genFeed(t, int64(200+i), 2500, "")

			sum, err := env.p.Ingest(ctx, ingest.Source{Kind: "file", Name: "flaky.csv", Format: ingest.FormatCSV, R: strings.NewReader(f.text)})
			if err != nil {
				t.Fatalf("Ingest: %v", err)
			}
			want := f.want()
			if tt.after {
				// Records of a batch that landed unbeknown to the pipeline
				// come back as duplicates on the retry; they are stored once.
				if sum.Stored >= want.Stored || sum.Stored+sum.Duplicates != want.Stored+want.Duplicates {
					t.Errorf("summary %+v: want fewer than %d stored, and stored + duplicates = %d", sum, want.Stored, want.Stored+want.Duplicates)
				}
				want.Stored, want.Duplicates = sum.Stored, sum.Duplicates
			}
			checkSummary(t, "ingest", sum, want)
			if diff := cmp.Diff(wantTotals(t, f), env.totals(t)); diff != "" {
				t.Errorf("stored totals (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(f.wantRejects(ingest.FormatCSV), env.rejects(t, "flaky.csv")); diff != "" {
				t.Errorf("rejected_records (-want +got):\n%s", diff)
			}
			if got := counterValue(t, env.reg, "simcore_ingest_write_retries_total"); got != float64(tt.fails) {
				t.Errorf("simcore_ingest_write_retries_total = %v, want %d", got, tt.fails)
			}
			if got := fw.calls.Load(); got <= tt.fails {
				t.Errorf("writer called %d times, want more than the %d failures", got, tt.fails)
			}
		})
	}
}

// endlessCSV is a source that never ends: valid, distinct data records.
type endlessCSV struct {
	buf   bytes.Buffer
	n     int
	start time.Time
	iccid string
}

func newEndlessCSV() *endlessCSV {
	s := "89441000000000004"
	return &endlessCSV{start: time.Now().UTC().Add(-time.Hour).Truncate(time.Second), iccid: s + string(metering.LuhnCheckDigit(s))}
}

func (e *endlessCSV) Read(p []byte) (int, error) {
	for e.buf.Len() < len(p) {
		if e.n == 0 {
			e.buf.WriteString(ingest.GenHeader + "\n")
		}
		e.n++
		fmt.Fprintf(&e.buf, "e%09d,endless,data,%s,,,%s,60,%d,%d,23415,EUTRAN,internet,,,0\n",
			e.n, e.iccid, e.start.Add(time.Duration(e.n%3600)*time.Second).Format(time.RFC3339), e.n, 2*e.n)
	}
	return e.buf.Read(p)
}

// notifyWriter closes first after the first batch that stored records.
type notifyWriter struct {
	w     ingest.BatchWriter
	once  sync.Once
	first chan struct{}
}

func (n *notifyWriter) WriteBatch(ctx context.Context, b *metering.Batch) (metering.WriteResult, error) {
	res, err := n.w.WriteBatch(ctx, b)
	if err == nil && len(b.Records) > 0 {
		n.once.Do(func() { close(n.first) })
	}
	return res, err
}

// goroutinesIn returns the stacks of goroutines with a frame in fn.
func goroutinesIn(fn string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			out = append(out, g)
		}
	}
	return out
}

// TestPipelineShutdown stops a source mid-way, by stopping the pipeline or by
// cancelling the caller's context. It is not parallel: it checks that no
// goroutine of Pipeline.Ingest is left, which other tests would disturb.
func TestPipelineShutdown(t *testing.T) {
	tests := []struct {
		name    string
		stopRun bool // else cancel Ingest's own context
		wantErr error
	}{
		{name: "Run stopped", stopRun: true, wantErr: ingest.ErrStopped},
		{name: "caller cancelled", wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := &notifyWriter{first: make(chan struct{})}
			env := newTestEnv(t, ingest.Config{Parsers: 2, ChunkSize: 8 << 10},
				func(w ingest.BatchWriter) ingest.BatchWriter { nw.w = w; return nw })
			ctx, cancel := context.WithCancel(testenv.Context(t, 2*time.Minute))
			defer cancel()

			type result struct {
				sum ingest.Summary
				err error
			}
			done := make(chan result, 1)
			go func() {
				sum, err := env.p.Ingest(ctx, ingest.Source{Kind: "file", Name: "endless.csv", Format: ingest.FormatCSV, R: newEndlessCSV()})
				done <- result{sum, err}
			}()
			select {
			case <-nw.first:
			case r := <-done:
				t.Fatalf("Ingest of an endless source returned %+v, %v", r.sum, r.err)
			case <-time.After(time.Minute):
				t.Fatal("no batch written within a minute")
			}
			if tt.stopRun {
				if err := env.stop(); err != nil {
					t.Fatalf("Run: %v", err)
				}
			} else {
				cancel()
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(time.Minute):
				t.Fatalf("Ingest did not return within a minute of the stop; goroutines:\n%s",
					strings.Join(goroutinesIn("ingest.(*Pipeline)"), "\n\n"))
			}
			if !errors.Is(r.err, tt.wantErr) {
				t.Errorf("Ingest error = %v, want %v", r.err, tt.wantErr)
			}
			if r.sum.Read != r.sum.Stored+r.sum.Duplicates+r.sum.Rejected || r.sum.Stored == 0 || r.sum.Duplicates != 0 || r.sum.Rejected != 0 {
				t.Errorf("summary %+v: want some stored, nothing else, read = stored", r.sum)
			}
			// What Ingest reported stored is exactly what is stored.
			if got := env.storedCount(t); got != r.sum.Stored {
				t.Errorf("usage_records holds %d records, Ingest reported %d stored", got, r.sum.Stored)
			}
			deadline := time.Now().Add(10 * time.Second)
			for left := goroutinesIn("ingest.(*Pipeline).Ingest"); len(left) > 0; left = goroutinesIn("ingest.(*Pipeline).Ingest") {
				if time.Now().After(deadline) {
					t.Fatalf("%d goroutines of Ingest left:\n%s", len(left), strings.Join(left, "\n\n"))
				}
				time.Sleep(10 * time.Millisecond)
			}

			if !tt.stopRun {
				// The pipeline itself is unharmed.
				f := genFeed(t, 300, 500, "after-cancel")
				sum, err := env.p.Ingest(testenv.Context(t, time.Minute), ingest.Source{Kind: "file", Name: "after.csv", Format: ingest.FormatCSV, R: strings.NewReader(f.text)})
				if err != nil {
					t.Fatalf("Ingest after a cancelled one: %v", err)
				}
				checkSummary(t, "ingest after a cancelled one", sum, f.want())
				return
			}
			// A stopped pipeline refuses new sources.
			f := genFeed(t, 301, 100, "after-stop")
			_, err := env.p.Ingest(testenv.Context(t, time.Minute), ingest.Source{Kind: "file", Name: "late.csv", Format: ingest.FormatCSV, R: strings.NewReader(f.text)})
			if !errors.Is(err, ingest.ErrStopped) {
				t.Errorf("Ingest on a stopped pipeline: %v, want ErrStopped", err)
			}
		})
	}
}

// gatedWriter holds every write until open is closed.
type gatedWriter struct {
	w    ingest.BatchWriter
	open chan struct{}
}

func (g *gatedWriter) WriteBatch(ctx context.Context, b *metering.Batch) (metering.WriteResult, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return metering.WriteResult{}, ctx.Err()
	}
	return g.w.WriteBatch(ctx, b)
}

// stallingReader reads r, then blocks until release is closed and fails.
type stallingReader struct {
	r        io.Reader
	stalled  chan struct{}
	release  chan struct{}
	err      error
	stallOne sync.Once
}

func (s *stallingReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if errors.Is(err, io.EOF) {
		s.stallOne.Do(func() { close(s.stalled) })
		<-s.release
		return n, s.err
	}
	return n, err
}

var errBrokenSource = errors.New("source broke")

// TestIngestReportsSourceReadError breaks a source while the pipeline is
// full: parsers waiting to hand over their groups are cancelled by the read
// error, and Ingest must report that error, not the cancellation it caused
// (the push handler maps a too-large body to 413 only if it sees it).
func TestIngestReportsSourceReadError(t *testing.T) {
	t.Parallel()
	const chunk = 1 << 10
	gw := &gatedWriter{open: make(chan struct{})}
	// One parser, one record per batch: the writer holds batch 1, the loop
	// waits to hand over batch 2, the input channel holds 3 and 4, the
	// parser waits with 5, and chunk 6 waits for it.
	env := newTestEnv(t, ingest.Config{Parsers: 1, MaxBatch: 1, ChunkSize: chunk},
		func(w ingest.BatchWriter) ingest.BatchWriter { gw.w = w; return gw })
	ctx := testenv.Context(t, 2*time.Minute)
	f := genFeed(t, 400, 200, "")

	// Give the source up to the middle of chunk 7, cutting it as the
	// pipeline's splitter will.
	sp := ingest.NewSplitter(strings.NewReader(f.text), chunk, true)
	if _, err := sp.ReadHeaderLine(); err != nil {
		t.Fatal(err)
	}
	var c ingest.Chunk
	for range 7 {
		var err error
		if c, err = sp.Next(); err != nil {
			t.Fatal(err)
		}
	}
	src := &stallingReader{
		r:       strings.NewReader(f.text[:c.Offset+int64(len(c.Data)/2)]),
		stalled: make(chan struct{}), release: make(chan struct{}), err: errBrokenSource,
	}
	type result struct {
		sum ingest.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := env.p.Ingest(ctx, ingest.Source{Kind: "file", Name: "broken.csv", Format: ingest.FormatCSV, R: src})
		done <- result{sum, err}
	}()
	select {
	case <-src.stalled:
	case <-time.After(time.Minute):
		t.Fatal("the source was not read to its stall point")
	}
	time.Sleep(200 * time.Millisecond) // let the parser settle waiting to hand over
	close(src.release)
	time.Sleep(100 * time.Millisecond) // let the read error cancel the parser
	close(gw.open)

	r := <-done
	if !errors.Is(r.err, errBrokenSource) {
		t.Errorf("Ingest error = %v, want the source's %v", r.err, errBrokenSource)
	}
	if got := env.storedCount(t); got != r.sum.Stored {
		t.Errorf("usage_records holds %d records, Ingest reported %d stored", got, r.sum.Stored)
	}
}

// TestPipelineDrainBy: DrainBy cuts the final flush short. With a writer
// that keeps failing and an hour of DrainTimeout, Run returns once the
// deadline has passed (the test's stop waits a minute at most), and the
// file waiting for its write gets an error: it is not acknowledged.
func TestPipelineDrainBy(t *testing.T) {
	t.Parallel()
	fw := &flakyWriter{failFirst: math.MaxInt64}
	env := newTestEnv(t, ingest.Config{DrainTimeout: time.Hour, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond},
		func(w ingest.BatchWriter) ingest.BatchWriter { fw.w = w; return fw })
	ctx := testenv.Context(t, 2*time.Minute)
	f := genFeed(t, 301, 100, "")
	errc := make(chan error, 1)
	go func() {
		_, err := env.p.Ingest(ctx, ingest.Source{Kind: "file", Name: "unwritable.csv", Format: ingest.FormatCSV, R: strings.NewReader(f.text)})
		errc <- err
	}()
	for fw.calls.Load() < 2 { // retrying
		if ctx.Err() != nil {
			t.Fatal("the writer was never called")
		}
		time.Sleep(5 * time.Millisecond)
	}
	env.p.DrainBy(time.Now().Add(100 * time.Millisecond))
	if err := env.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("Ingest of a file that was never written returned no error")
	}
}
