package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/ingest/ber"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering/clickhouse"
	"github.com/simcore/simcore/metering/postgres"
)

// Tests from a review of the ingest input paths: each failed before the
// fix it names.

// reviewPipeline is a running pipeline that stores into a ClickHouse
// database and a PostgreSQL ledger of the test's own.
func reviewPipeline(t *testing.T) *Pipeline {
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
	pool, err := pgxpool.New(context.Background(), testenv.Postgres(t, "metering", postgres.MigrationsVersion(), postgres.Migrate))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := clickhouse.NewWriter(ctx, clickhouse.WriterConfig{Conn: conn, Ledger: postgres.NewLedger(pool), MaxAge: 90 * 24 * time.Hour, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Writer: w, Log: log, MaxWait: 10 * time.Millisecond, ChunkSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

// recentStart is a start time inside the window of the real clock.
func recentStart() string { return time.Now().UTC().Add(-time.Hour).Format(time.RFC3339) }

// A comment line of a mapped feed is skipped whole, whatever it holds. A
// comment with an odd number of quotes must not swallow the records after it.
func TestMappedCommentWithQuoteKeepsRecords(t *testing.T) {
	m, err := ParseMapping([]byte("comment: \"#\"\n" + minimalFields))
	if err != nil {
		t.Fatal(err)
	}
	st := recentStart()
	input := "# vendor said \"hello\n" +
		"r1,data," + testICCID + "," + st + "\n" +
		"r2,data," + testICCID + "," + st + "\n" +
		"r3,data," + testICCID + "," + st + "\n"
	p := reviewPipeline(t)
	sum, err := p.Ingest(context.Background(), Source{Kind: "file", Name: "c.txt", Format: FormatMapped, Mapping: m, R: strings.NewReader(input)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != 3 || sum.Stored != 3 {
		t.Errorf("summary %+v, want 3 read and stored", sum)
	}
}

func writeSettled(t *testing.T, path, content string, age time.Duration) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-age)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// A CSV file with a stray quote near its start (the rest of the file, over
// MaxRecordBytes, becomes one "record") can never be ingested. The spool
// must still move it out (rejected/) and go on with the other files, not
// fail every scan and leave it, and every newer file, in place for ever.
func TestSpoolRejectsOverlongRecordAndGoesOn(t *testing.T) {
	p := reviewPipeline(t)
	dir := t.TempDir()
	st := recentStart()
	var b strings.Builder
	b.WriteString("record_id,type,iccid,start_time\n")
	b.WriteString("r0,data,\"" + testICCID + "," + st + "\n") // stray quote
	for i := 0; b.Len() < MaxRecordBytes+1000; i++ {
		b.WriteString("x" + strings.Repeat("0", 40) + ",data," + testICCID + "," + st + "\n")
	}
	writeSettled(t, filepath.Join(dir, "a.csv"), b.String(), 2*time.Minute)
	writeSettled(t, filepath.Join(dir, "b.csv"), "record_id,type,iccid,start_time\nb1,data,"+testICCID+","+st+"\n", time.Minute)
	sp := &Spool{Dir: dir, Pipeline: p, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Settle: time.Millisecond}
	if n, err := sp.ScanOnce(context.Background()); err != nil || n != 2 {
		t.Errorf("ScanOnce = %d, %v; want both files handled", n, err)
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if _, err := os.Stat(filepath.Join(dir, "rejected", "a.csv")); err != nil {
		t.Errorf("a.csv not in rejected/: %v (spool holds %v)", err, names)
	}
	if _, err := os.Stat(filepath.Join(dir, "done", "b.csv")); err != nil {
		t.Errorf("b.csv was never ingested: %v (spool holds %v)", err, names)
	}
}

// An HTTP push whose body holds a record over MaxRecordBytes (here: a stray
// quote) is a bad body: a 4xx, not 503 "retry the same body".
func TestPushOverlongRecordIs4xx(t *testing.T) {
	p := reviewPipeline(t)
	h := &PushHandler{Pipeline: p, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Token: "tok"}
	st := recentStart()
	body := "record_id,type,iccid,start_time\nr1,data,\"" + testICCID + "," + st + "\n" +
		strings.Repeat("r2,data,"+testICCID+","+st+"\n", MaxRecordBytes/40+10)
	req := httptest.NewRequest(http.MethodPost, "/v1/ingest", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "text/csv")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code < 400 || rec.Code > 499 {
		t.Errorf("status %d, body %s; want a 4xx", rec.Code, rec.Body.String())
	}
}

// Lines starting with the mapping's comment byte are skipped, including
// comment lines before the header (vendor exports often start with them).
func TestMappedCommentBeforeHeader(t *testing.T) {
	m, err := ParseMapping([]byte(`
comment: "#"
header: true
fields:
  record_id: {column: "ID"}
  type: {column: "TYPE"}
  iccid: {column: "ICCID"}
  start_time: {column: "START"}
`))
	if err != nil {
		t.Fatal(err)
	}
	st := recentStart()
	input := "# export of 2024-03-05\nID,TYPE,ICCID,START\nr1,data," + testICCID + "," + st + "\n"
	p := reviewPipeline(t)
	sum, err := p.Ingest(context.Background(), Source{Kind: "file", Name: "c.txt", Format: FormatMapped, Mapping: m, R: strings.NewReader(input)})
	if err != nil || sum.Stored != 1 {
		t.Errorf("Ingest = %+v, %v; want 1 stored", sum, err)
	}
}

// A vendor layout with a zone abbreviation: one that time_zone defines is
// read with its offset, GMT and UTC as UTC, and one it does not define is
// refused (Go took it for UTC, hours off).
func TestMappedZoneAbbreviation(t *testing.T) {
	m, err := ParseMapping([]byte("time_layout: \"2006-01-02 15:04:05 MST\"\ntime_zone: Europe/Berlin\n" + minimalFields))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewMappedParser(m, nil, ParserConfig{})
	if err != nil {
		t.Fatal(err)
	}
	items := parseInput(t, p, "r1,data,"+testICCID+",2024-03-05 10:00:00 CET\n"+
		"r2,data,"+testICCID+",2024-03-05 10:00:00 XYZ\n"+
		"r3,data,"+testICCID+",2024-07-05 10:00:00 CEST\n"+
		"r4,data,"+testICCID+",2024-03-05 10:00:00 GMT\n"+
		"r5,data,"+testICCID+",2024-03-05 10:00:00 EST\n", 0, true)
	if len(items) != 5 {
		t.Fatalf("got %d items", len(items))
	}
	for i, want := range []string{"2024-03-05T09:00:00Z", "", "2024-07-05T08:00:00Z", "2024-03-05T10:00:00Z", ""} {
		it := items[i]
		switch {
		case want == "" && it.Reason != "bad_start_time":
			t.Errorf("%s: accepted as %v (%s), want bad_start_time", it.Raw, it.Record.StartTime, it.Reason)
		case want != "" && (it.Reason != "" || !it.Record.StartTime.Equal(ts(want))):
			t.Errorf("%s: %v (%s %s), want %s", it.Raw, it.Record.StartTime, it.Reason, it.Detail, want)
		}
	}
}

// A mapping whose column position no record can have is refused; it used
// to make Parse allocate a slice that size and panic.
func TestMappedHugeColumnRefused(t *testing.T) {
	for _, pos := range []string{"1152921504606846976", "1001"} {
		if _, err := ParseMapping([]byte("fields: {record_id: {column: 1}, type: {column: 2}, iccid: {column: 3}, start_time: {column: " + pos + "}}")); !errors.Is(err, ErrInvalidMapping) {
			t.Errorf("column %s: ParseMapping error %v, want ErrInvalidMapping", pos, err)
		}
	}
	m, err := ParseMapping([]byte("fields: {record_id: {column: 1}, type: {column: 2}, iccid: {column: 3}, start_time: {column: 1000}}"))
	if err != nil {
		t.Fatalf("column 1000: %v", err)
	}
	p, err := NewMappedParser(m, nil, ingestTestCfg)
	if err != nil {
		t.Fatal(err)
	}
	if items := p.Parse(Chunk{Data: []byte("a,b,c,d\n"), FirstLine: 1}, nil); len(items) != 1 || items[0].Reason != "csv_field_count" {
		t.Errorf("a record without column 1000: %+v, want csv_field_count", items)
	}
}

// Ambiguous type_values (the same vendor name twice) are an invalid mapping,
// like any other duplicate key in the file.
func TestMappingDuplicateTypeValue(t *testing.T) {
	if _, err := ParseMapping([]byte("type_values: {GPRS: data, GPRS: sms}\n" + minimalFields)); err == nil {
		t.Error("ParseMapping accepted GPRS mapped to data and to sms")
	}
	if _, err := ParseMapping([]byte("time_layout: unix\ntime_layout: unix_ms\n" + minimalFields)); err == nil {
		t.Error("(control) duplicate time_layout accepted")
	}
}

// A settled file whose modification time lies in the future (copied with
// its times from a host whose clock is ahead) is still ingested.
func TestSpoolFutureModTime(t *testing.T) {
	p := reviewPipeline(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.csv")
	if err := os.WriteFile(path, []byte("record_id,type,iccid,start_time\nr1,data,"+testICCID+","+recentStart()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(2 * time.Hour)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
	sp := &Spool{Dir: dir, Pipeline: p, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Settle: 100 * time.Millisecond}
	// Its time cannot tell whether it is still written: it is taken once
	// its size and time stayed the same for Settle.
	if n, err := sp.ScanOnce(context.Background()); err != nil || n != 0 {
		t.Errorf("first ScanOnce = %d, %v; want the file left to settle", n, err)
	}
	time.Sleep(150 * time.Millisecond)
	n, err := sp.ScanOnce(context.Background())
	if err != nil || n != 1 {
		t.Errorf("ScanOnce after Settle = %d, %v; want the file handled", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "done", "a.csv")); err != nil {
		t.Errorf("a.csv not in done/: %v", err)
	}
}

// A BOM, then a blank line, then the header.
func TestCSVBOMThenBlankLine(t *testing.T) {
	p := reviewPipeline(t)
	in := "\ufeff\r\nrecord_id,type,iccid,start_time\r\nr1,data," + testICCID + "," + recentStart() + "\r\n"
	sum, err := p.Ingest(context.Background(), Source{Kind: "file", Name: "a.csv", Format: FormatCSV, R: strings.NewReader(in)})
	if err != nil || sum.Stored != 1 {
		t.Errorf("Ingest = %+v, %v; want 1 stored", sum, err)
	}
}

// RFC 3339 offsets have hours 00-23 and minutes 00-59: "+24:00" and
// "+23:60" are malformed start times and must be quarantined, not shifted
// by a day.
func TestRFC3339OffsetOutOfRange(t *testing.T) {
	items := parseCSV(t, "record_id,type,iccid,start_time",
		"r1,data,"+testICCID+",2024-03-05T10:00:00+24:00\n"+
			"r2,data,"+testICCID+",2024-03-05T10:00:00+23:60\n", 1<<20)
	for _, it := range items {
		if it.Reason == "" {
			t.Errorf("line %d %q accepted with start time %v, want bad_start_time", it.Line, it.Raw, it.Record.StartTime)
		}
	}
}

// An NDJSON line holding only Unicode white space (NBSP, form feed) is not
// a JSON value: it must be quarantined, not dropped without a trace.
func TestNDJSONUnicodeSpaceLineRejected(t *testing.T) {
	p, _ := NewNDJSONParser(ingestTestCfg)
	items := parseInput(t, p, "\u00a0\n\f\n", 0, false)
	if len(items) != 2 {
		t.Errorf("got %d items for 2 non-JSON lines, want 2 json_syntax rejects", len(items))
	}
}

// A BER file whose TS 32.297 file header is corrupt can never be decoded:
// the spool moves it to rejected/ and goes on, instead of failing it at
// every scan and leaving it in place for ever.
func TestSpoolRejectsBERFileWithCorruptHeader(t *testing.T) {
	p := reviewPipeline(t)
	dir := t.TempDir()
	// A valid file whose header length field (octets 4-7) is set to 3,
	// below the 8 octets of the two length fields themselves.
	file := ber.EncodeFile(ber.Encode(ber.CDRFields{
		IMSI: "234150123456789", OpeningTime: time.Now().Add(-time.Hour), ChargingID: 1,
	}))
	file[4], file[5], file[6], file[7] = 0, 0, 0, 3
	writeSettled(t, filepath.Join(dir, "a.ber"), string(file), 2*time.Minute)
	writeSettled(t, filepath.Join(dir, "b.csv"), "record_id,type,iccid,start_time\nb1,data,"+testICCID+","+recentStart()+"\n", time.Minute)
	sp := &Spool{Dir: dir, Pipeline: p, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Settle: time.Millisecond}
	if n, err := sp.ScanOnce(context.Background()); err != nil || n != 2 {
		t.Errorf("ScanOnce = %d, %v; want both files handled", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rejected", "a.ber")); err != nil {
		t.Errorf("a.ber not in rejected/: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "done", "b.csv")); err != nil {
		t.Errorf("b.csv not in done/: %v", err)
	}
}
