package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/simcore/simcore/metering"
)

// walRecord is a RADIUS-like record (IMSI, no ICCID, bearer) numbered i.
func walRecord(i int) metering.Record {
	return metering.Record{
		Type: metering.TypeData, IMSI: "234150000000001", StartTime: time.Date(2026, 11, 22, 3, 0, i%60, 0, time.UTC),
		DurationS: 60, BytesUp: uint64(i), BytesDown: uint64(2 * i), NodeID: "nas-1",
		RecordID: fmt.Sprintf("0cc175b9c0f1b6a831c399e269772661/t%di%do%d", 60*i, i, 2*i),
		Sequence: uint32(i), ClosingCause: 17, ChargingID: 7, PGWAddress: "10.0.0.9",
	}
}

// segmentRecords reads every complete segment in dir, in name order, and
// returns the segments' record counts and all their records.
func segmentRecords(t *testing.T, dir string) ([]int, []metering.Record) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var (
		counts []int
		recs   []metering.Record
	)
	for _, e := range ents {
		if !IsWALSegment(e.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		items := readSegment(data, e.Name())
		for _, it := range items {
			if it.Reason != "" {
				t.Fatalf("%s line %d: %s %s", e.Name(), it.Line, it.Reason, it.Detail)
			}
			recs = append(recs, it.Record)
		}
		counts = append(counts, len(items))
	}
	return counts, recs
}

func openTestWAL(t *testing.T, cfg WALConfig) (*WAL, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registry = reg
	w, err := OpenWAL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, reg
}

// TestWALAcceptsConcurrentlyAndHandsSegmentsOver: every record accepted
// by concurrent callers is in exactly one complete segment after Close,
// byte for byte the record given, and one fsync served several requests.
func TestWALAcceptsConcurrentlyAndHandsSegmentsOver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, reg := openTestWAL(t, WALConfig{Dir: dir, MaxRecords: 300, RotateEvery: time.Hour})
	const callers, each = 32, 50
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				if err := w.Accept(t.Context(), []metering.Record{walRecord(c*each + i)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Accept(t.Context(), []metering.Record{walRecord(0)}); !errors.Is(err, ErrWALClosed) {
		t.Errorf("Accept after Close: %v, want ErrWALClosed", err)
	}
	counts, got := segmentRecords(t, dir)
	want := make([]metering.Record, callers*each)
	for i := range want {
		want[i] = walRecord(i)
	}
	byID := func(a, b metering.Record) int { return strings.Compare(a.RecordID, b.RecordID) }
	slices.SortFunc(got, byID)
	slices.SortFunc(want, byID)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records in segments (-want +got):\n%s", diff)
	}
	// A segment rotates after the commit that fills it, and a commit holds
	// at most one request per caller.
	for i, n := range counts {
		if n > 300+callers || (i < len(counts)-1 && n < 300) {
			t.Errorf("segment %d of %d records, want 300 to %d (segments %v)", i, n, 300+callers, counts)
		}
	}
	if parts, _ := filepath.Glob(filepath.Join(dir, ".*.part")); len(parts) != 0 {
		t.Errorf("open segments left after Close: %v", parts)
	}
	commits := testutil.CollectAndCount(reg, "simcore_ingest_wal_commit_records")
	if commits != 1 {
		t.Fatalf("commit histogram series %d", commits)
	}
	if n := histogramCount(t, reg, "simcore_ingest_wal_commit_records"); n >= callers*each {
		t.Errorf("%d group commits for %d records: no commit served two requests", n, callers*each)
	}
	if n := testutil.ToFloat64(w.m.rotations); int(n) != len(counts) {
		t.Errorf("rotations %v, segments %d", n, len(counts))
	}
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return int(mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestWALRotatesByTime: an idle open segment is handed to the spool once
// it is RotateEvery old, without Close.
func TestWALRotatesByTime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, _ := openTestWAL(t, WALConfig{Dir: dir, RotateEvery: 20 * time.Millisecond})
	for i := range 3 {
		if err := w.Accept(t.Context(), []metering.Record{walRecord(i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Look for open segments first: every Accept has returned, so once
		// none is open every record is in a complete segment. Read the other
		// way round, a segment renamed between the two reads is missed.
		parts, _ := filepath.Glob(filepath.Join(dir, ".*.part"))
		counts, _ := segmentRecords(t, dir)
		if len(parts) == 0 && len(counts) > 0 {
			total := 0
			for _, n := range counts {
				total += n
			}
			if total != 3 {
				t.Fatalf("segments hold %d records, want 3", total)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment never rotated: parts %v, segments %v", parts, counts)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRecoverWALCutsTornTail: a dead process's open segment is cut after
// its last complete line and renamed for the spool; one holding only a
// torn line is removed; complete segments are left alone.
func TestRecoverWALCutsTornTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var full []byte
	for i := range 3 {
		r := walRecord(i)
		full = AppendNDJSON(full, &r)
	}
	torn := walRecord(3)
	tornLine := AppendNDJSON(nil, &torn)
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".radius-wal-20261122T030000.000000000Z-1.ndjson.part", append(slices.Clone(full), tornLine[:len(tornLine)/2]...))
	write(".radius-wal-20261122T030001.000000000Z-2.ndjson.part", tornLine[:10])
	write(".radius-wal-20261122T030002.000000000Z-3.ndjson.part", full) // ends on a line
	write("radius-wal-20261122T025959.000000000Z-9.ndjson", full)
	// A segment opened on a spare: its lines, then the zeros never
	// written over; and one that received nothing.
	zeros := make([]byte, 8192)
	write(".radius-wal-20261122T030003.000000000Z-4.ndjson.part", slices.Concat(full, tornLine[:len(tornLine)/2], zeros))
	write(".radius-wal-20261122T030004.000000000Z-5.ndjson.part", zeros)
	write(sparePrefix+"7", zeros) // a dead process's spare
	w, _ := openTestWAL(t, WALConfig{Dir: dir})
	w.Close()
	names := []string{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{".radius-wal.lock", "radius-wal-20261122T025959.000000000Z-9.ndjson",
		"radius-wal-20261122T030000.000000000Z-1.ndjson", "radius-wal-20261122T030002.000000000Z-3.ndjson",
		"radius-wal-20261122T030003.000000000Z-4.ndjson"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("files after recovery (-want +got):\n%s", diff)
	}
	for _, name := range want[1:] {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(full) {
			t.Errorf("%s holds %q, want the three complete lines", name, b)
		}
	}
}

// TestWALWritesIntoSpares: segments open on spare files of zeros prepared
// in the background, a segment whose zeros are used up rotates before the
// commit that would not fit, and the spool is never handed a zero: every
// complete segment holds exactly its records, in order, and no spare is
// left after Close.
func TestWALWritesIntoSpares(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const maxRecords = 5000
	// Room for spares whatever this machine's disk holds (seen here with
	// 287 MB free): the floor has a test of its own.
	plenty := func(string) (uint64, error) { return 1 << 50, nil }
	w, reg := openTestWAL(t, WALConfig{Dir: dir, MaxRecords: maxRecords, RotateEvery: time.Hour, freeBytes: plenty})
	waitSpare := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			w.spares.mu.Lock()
			ready := w.spares.ready != nil
			w.spares.mu.Unlock()
			if ready {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("no spare prepared in 30 s")
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitSpare()
	var sent, bytes int
	for bytes < 3*minSpare {
		batch := make([]metering.Record, 200)
		for i := range batch {
			batch[i] = walRecord(sent + i)
			bytes += len(AppendNDJSON(nil, &batch[i]))
		}
		if err := w.Accept(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
		sent += len(batch)
	}
	w.Close()
	if n := testutil.ToFloat64(w.m.spares); n < 1 {
		t.Errorf("%v segments opened on a spare, want at least the first", n)
	}
	if n := testutil.ToFloat64(w.m.errors.WithLabelValues("spare")); n != 0 {
		t.Errorf("%v spares failed", n)
	}
	counts, recs := segmentRecords(t, dir)
	if len(recs) != sent {
		t.Fatalf("segments hold %d records, want %d", len(recs), sent)
	}
	for i, r := range recs {
		if r.Sequence != uint32(i) {
			t.Fatalf("record %d has sequence %d: out of order", i, r.Sequence)
		}
	}
	// The first segment opened on the first spare (1 MiB) and rotated
	// when it was full, before MaxRecords.
	if len(counts) < 2 || counts[0] >= maxRecords {
		t.Fatalf("segments of %v records: the first did not rotate when its spare was full", counts)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(e.Name(), sparePrefix), isWALPart(e.Name()):
			t.Errorf("%s left after Close", e.Name())
		case IsWALSegment(e.Name()) && e.Name() == firstSegment(t, dir) && info.Size() > minSpare:
			t.Errorf("first segment %s is %d bytes, larger than its spare", e.Name(), info.Size())
		}
	}
	if histogramCount(t, reg, "simcore_ingest_wal_fsync_duration_seconds") == 0 {
		t.Error("no fsync observed")
	}
}

// firstSegment is the name of the oldest complete segment in dir.
func firstSegment(t *testing.T, dir string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, walPrefix+"*"+walSuffix))
	if err != nil || len(names) == 0 {
		t.Fatalf("no segment in %s: %v", dir, err)
	}
	slices.Sort(names)
	return filepath.Base(names[0])
}

// TestWALLockIsExclusive: a second log on the same directory is refused
// while the first is open (its recovery would rename a live segment).
func TestWALLockIsExclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, _ := openTestWAL(t, WALConfig{Dir: dir})
	if _, err := OpenWAL(WALConfig{Dir: dir}); !errors.Is(err, ErrWALLocked) {
		t.Fatalf("second OpenWAL: %v, want ErrWALLocked", err)
	}
	w.Close()
	w2, err := OpenWAL(WALConfig{Dir: dir})
	if err != nil {
		t.Fatalf("OpenWAL after Close: %v", err)
	}
	w2.Close()
}

// TestWALAcceptHonoursContext: a caller whose context ends stops waiting.
func TestWALAcceptHonoursContext(t *testing.T) {
	t.Parallel()
	w, _ := openTestWAL(t, WALConfig{Dir: t.TempDir()})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := w.Accept(ctx, []metering.Record{walRecord(1)})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Accept with a cancelled context: %v", err)
	}
}

// TestReplayWALReadsRecentSegments: records of complete segments in the
// spool and in done/ come back, those of segments opened before since do
// not (whatever their modification time).
func TestReplayWALReadsRecentSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "done"), 0o755); err != nil {
		t.Fatal(err)
	}
	seg := func(path string, from, n int, mod time.Time) {
		var b []byte
		for i := from; i < from+n; i++ {
			r := walRecord(i)
			if i%2 == 0 {
				r.ClosingCause = 0 // a Stop
			}
			b = AppendNDJSON(b, &r)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	name := func(t time.Time, n int) string {
		return fmt.Sprintf("radius-wal-%s-%d.ndjson", t.UTC().Format(segmentTimeLayout), n)
	}
	seg(filepath.Join(dir, "done", name(now.Add(-2*time.Hour), 1)), 0, 2, now)
	seg(filepath.Join(dir, "done", name(now.Add(-time.Minute), 2)), 2, 3, now)
	seg(filepath.Join(dir, name(now, 3)), 5, 4, now)
	seg(filepath.Join(dir, "usage.ndjson"), 100, 1, now) // not a segment
	var ids []uint32
	n, err := ReplayWAL(dir, now.Add(-time.Hour), func(r WALRecord) {
		seq := r.Sequence
		if want := walRecord(int(seq)).RecordID; r.RecordID != want {
			t.Errorf("record id %q with sequence %d, want %q", r.RecordID, seq, want)
		}
		if want := seq%2 == 0; r.Closed != want {
			t.Errorf("record %d: closed %v, want %v (closing cause 0 is a Stop)", seq, r.Closed, want)
		}
		opened := now.Add(-time.Minute)
		if seq >= 5 {
			opened = now
		}
		if !r.Logged.Equal(opened.UTC()) {
			t.Errorf("record %d: logged %v, want its segment's opening %v", seq, r.Logged, opened.UTC())
		}
		ids = append(ids, seq)
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{2, 3, 4, 5, 6, 7, 8}; n != len(want) || !slices.Equal(ids, want) {
		t.Errorf("replayed %d records %v, want %v", n, ids, want)
	}
}

// TestReplayWALFollowsAMovedSegment: a spool in another process (the
// receiver runs with --store=false) moves a segment to done/ while the
// replay runs; its records are still read, from done/.
func TestReplayWALFollowsAMovedSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "done"), 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	names := make([]string, 2)
	for i := range names {
		names[i] = fmt.Sprintf("radius-wal-%s-%d.ndjson", now.Add(time.Duration(i)*time.Second).UTC().Format(segmentTimeLayout), i)
		var b []byte
		for j := 3 * i; j < 3*i+3; j++ {
			r := walRecord(j)
			b = AppendNDJSON(b, &r)
		}
		if err := os.WriteFile(filepath.Join(dir, names[i]), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var ids []uint32
	n, err := ReplayWAL(dir, now.Add(-time.Hour), func(r WALRecord) {
		seq := r.Sequence
		if len(ids) == 0 { // the spool stores the second segment meanwhile
			if err := os.Rename(filepath.Join(dir, names[1]), filepath.Join(dir, "done", names[1])); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, seq)
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{0, 1, 2, 3, 4, 5}; n != len(want) || !slices.Equal(ids, want) {
		t.Errorf("replayed %d records %v, want %v", n, ids, want)
	}
}

// BenchmarkReplayWAL measures rebuilding session marks at start: reading
// a segment of 50,000 records back.
func BenchmarkReplayWAL(b *testing.B) {
	dir := b.TempDir()
	var buf []byte
	const n = 50_000
	for i := range n {
		r := walRecord(i)
		buf = AppendNDJSON(buf, &r)
	}
	if err := os.WriteFile(filepath.Join(dir, "radius-wal-a-1.ndjson"), buf, 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReplayWAL(dir, time.Time{}, func(WALRecord) {}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReadSegment measures decoding a rotated segment of 50,000
// records for the spool.
func BenchmarkReadSegment(b *testing.B) {
	var buf []byte
	const n = 50_000
	for i := range n {
		r := walRecord(i)
		buf = AppendNDJSON(buf, &r)
	}
	b.ReportAllocs()
	for b.Loop() {
		items := readSegment(buf, "seg")
		if len(items) != n || items[n-1].Reason != "" {
			b.Fatalf("%d items, last %+v", len(items), items[len(items)-1])
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// faultyFile fails the next failSyncs fsyncs.
type faultyFile struct {
	*os.File
	failSyncs *atomic.Int32
}

func (f faultyFile) Sync() error {
	if f.failSyncs.Add(-1) >= 0 {
		return errors.New("injected fsync failure")
	}
	return f.File.Sync()
}

// TestWALFsyncFailure: a failed fsync fails the requests of its commit
// (the NAS is not answered and retransmits); the segment is cut back to
// what was acknowledged and handed to the spool, and the next request goes
// to a new segment.
func TestWALFsyncFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, _ := openTestWAL(t, WALConfig{Dir: dir, RotateEvery: time.Hour})
	var failSyncs atomic.Int32
	w.wrapFile = func(f *os.File) segmentFile { return faultyFile{File: f, failSyncs: &failSyncs} }
	accept := func(i int) error { return w.Accept(t.Context(), []metering.Record{walRecord(i)}) }
	if err := accept(0); err != nil {
		t.Fatal(err)
	}
	if err := w.Health(); err != nil {
		t.Fatalf("Health after a good commit: %v", err)
	}
	failSyncs.Store(1)
	if err := accept(1); err == nil {
		t.Fatal("Accept returned nil although its fsync failed")
	}
	if err := w.Health(); err == nil || !strings.Contains(err.Error(), "injected fsync failure") {
		t.Fatalf("Health after a failed fsync: %v", err)
	}
	if err := accept(2); err != nil {
		t.Fatalf("Accept after a failed fsync: %v", err)
	}
	if err := w.Health(); err != nil {
		t.Fatalf("Health once a commit succeeds again: %v", err)
	}
	w.Close()
	counts, recs := segmentRecords(t, dir)
	var seqs []uint32
	for _, r := range recs {
		seqs = append(seqs, r.Sequence)
	}
	if !slices.Equal(counts, []int{1, 1}) || !slices.Equal(seqs, []uint32{0, 2}) {
		t.Errorf("segments %v holding sequences %v, want two of one record: 0 and 2", counts, seqs)
	}
	if n := testutil.ToFloat64(w.m.errors.WithLabelValues("sync")); n != 1 {
		t.Errorf("sync errors %v, want 1", n)
	}
}

// TestReplayWALSkipsCorruptLines: a segment line that begins like a record
// but is not one (zero-filled pages after a power loss, in the middle of a
// segment where the torn-tail cut does not reach) is quarantined by the
// spool, and must not restore a session mark at start either: it did, so
// the NAS's retransmission of that update was answered as a duplicate and
// its usage survived only as a mangled quarantined line.
func TestReplayWALSkipsCorruptLines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := walRecord(1)
	var b []byte
	b = AppendNDJSON(b, &good)
	b = append(b, `{"record_id":"nas/s1/t60i1o2","type":"data","sequence":5}`+"\x00\x00garbage\n"...)
	b = append(b, `{"record_id":"nas/s2/t60i1o2","type":"data","sequence":6}`+"\x00\x00\x00\n"...)
	name := fmt.Sprintf("radius-wal-%s-%d.ndjson", time.Now().UTC().Format(segmentTimeLayout), 1)
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var ids []string
	if _, err := ReplayWAL(dir, time.Now().Add(-time.Hour), func(r WALRecord) { ids = append(ids, r.RecordID) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{good.RecordID}; !slices.Equal(ids, want) {
		t.Fatalf("replay restored %q, want only %q: the corrupt lines are not records", ids, want)
	}
}

// TestWALSparesPauseOnALowDisk: with less than spareMinFree (plus the
// spare) free, no spare is written: on a nearly full disk writing one
// took the last blocks for a moment and failed the open segment's next
// commit. Segments are then created empty and every record is still
// accepted; the check is not repeated before spareBackoff, and spares
// come back once there is room.
func TestWALSparesPauseOnALowDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var free atomic.Uint64
	free.Store(spareMinFree / 2)
	var checks atomic.Int32
	w, _ := openTestWAL(t, WALConfig{Dir: dir, MaxRecords: 10, RotateEvery: time.Hour,
		freeBytes:    func(string) (uint64, error) { checks.Add(1); return free.Load(), nil },
		spareBackoff: time.Hour})
	spares := func() []string {
		names, _ := filepath.Glob(filepath.Join(dir, sparePrefix+"*"))
		return names
	}
	for i := range 100 { // ten segments
		if err := w.Accept(t.Context(), []metering.Record{walRecord(i)}); err != nil {
			t.Fatalf("Accept %d: %v", i, err)
		}
		if s := spares(); len(s) > 0 {
			t.Fatalf("spare %v written with %d bytes free", s, free.Load())
		}
	}
	if n := testutil.ToFloat64(w.m.spares); n != 0 {
		t.Errorf("%v segments opened on a spare", n)
	}
	if n := testutil.ToFloat64(w.m.errors.WithLabelValues("spare")); n != 1 {
		t.Errorf("spare errors %v, want 1 (the check waits out the back-off)", n)
	}
	if n := checks.Load(); n != 1 {
		t.Errorf("free space checked %d times in the back-off, want once", n)
	}
	w.Close()
	counts, _ := segmentRecords(t, dir)
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != 100 {
		t.Errorf("segments hold %d records, want 100", total)
	}

	// Room again: after the back-off the next segment's spare is written.
	dir2 := t.TempDir()
	free.Store(spareMinFree / 2)
	w2, _ := openTestWAL(t, WALConfig{Dir: dir2, MaxRecords: 10, RotateEvery: time.Hour,
		freeBytes:    func(string) (uint64, error) { return free.Load(), nil },
		spareBackoff: time.Millisecond})
	if err := w2.Accept(t.Context(), []metering.Record{walRecord(0)}); err != nil {
		t.Fatal(err)
	}
	free.Store(1 << 50)
	deadline := time.Now().Add(30 * time.Second)
	for i := 1; testutil.ToFloat64(w2.m.spares) == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatal("no spare used 30 s after the disk had room again")
		}
		time.Sleep(2 * time.Millisecond)
		if err := w2.Accept(t.Context(), []metering.Record{walRecord(i)}); err != nil {
			t.Fatal(err)
		}
	}
}
