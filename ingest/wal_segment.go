package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Segment names. A segment is written as .radius-wal-T-N.ndjson.part
// (the spool skips dot files and .part) and renamed to
// radius-wal-T-N.ndjson once complete; T is its opening time in UTC and N
// counts the segments of one process.
const (
	walPrefix   = "radius-wal-"
	walSuffix   = ".ndjson"
	partSuffix  = ".part"
	walLockName = ".radius-wal.lock"

	segmentTimeLayout = "20060102T150405.000000000Z"
)

// IsWALSegment reports whether name is a complete segment of the RADIUS
// write-ahead log, which the spool stores as RADIUS records.
func IsWALSegment(name string) bool {
	return strings.HasPrefix(name, walPrefix) && strings.HasSuffix(name, walSuffix)
}

func isWALPart(name string) bool {
	return strings.HasPrefix(name, "."+walPrefix) && strings.HasSuffix(name, walSuffix+partSuffix)
}

// segmentFile is what a segment needs of its file: a datasyncFile, which
// tests wrap to inject faults.
type segmentFile interface {
	WriteAt(b []byte, off int64) (int, error)
	Sync() error
	Truncate(size int64) error
	Close() error
}

// datasyncFile is an *os.File whose Sync is fdatasync where the system has
// it: a segment's commits need its data and size durable, not its times.
type datasyncFile struct{ *os.File }

func (f datasyncFile) Sync() error { return datasync(f.File) }

// fullSync is an fsync, times and all.
func fullSync(f segmentFile) error {
	if d, ok := f.(datasyncFile); ok {
		return d.File.Sync()
	}
	return f.Sync()
}

// segment is the open segment file.
type segment struct {
	dir, name, part string // name: the final name; part: the file's path while open
	f               segmentFile
	opened          time.Time
	size            int64 // bytes written and fsynced
	records         int
	// capacity is how many bytes the file held as zeros when the segment
	// opened (a spare; 0 for one created empty). Commits within it
	// overwrite allocated blocks, so fdatasync writes data only, not
	// the journal.
	capacity int64
}

// Spares. The log prepares its next segment in the background: a file of
// zeros, written and fsynced, named .radius-wal-spare-N (a dot file, so
// neither the spool nor RecoverWAL touches it). Taking it is a rename.
// On ext4 an fsync after an append (the file grows) commits the journal,
// which also waits for every other file's ordered data: 78 µs of the
// receiver's CPU per fsync, a third of it at 20,000 requests/s, and twice
// the latency. An fdatasync of blocks already allocated and written
// writes only the data (41 µs; BENCHMARKS.md, session 13).
const (
	sparePrefix = ".radius-wal-spare-"
	// Spare sizes: the last segment's bytes and a quarter, in whole MiB,
	// within these bounds.
	minSpare = 1 << 20
	maxSpare = 64 << 20
	// spareChunk is how much of a spare is written out at a time.
	spareChunk = 256 << 10
	// spareMinFree is the least space a spare leaves free on the
	// spool's file system (and four times the spare, if more): spares
	// stop well before the disk fills.
	spareMinFree = 1 << 30
)

// spareSize is the size of the spare to prepare after a segment of used
// bytes.
func spareSize(used int64) int64 {
	n := (used + used/4 + minSpare - 1) / minSpare * minSpare
	return min(max(n, minSpare), maxSpare)
}

// prepareSpare writes a spare of size bytes of zeros and fsyncs it. The
// directory is not synced: a spare lost to a power loss is only
// prepared again, and OpenWAL removes the ones a dead process left.
func prepareSpare(dir string, n int, size int64) (*os.File, error) {
	path := filepath.Join(dir, sparePrefix+strconv.Itoa(n))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wal prepare spare: %w", err)
	}
	// A chunk at a time, each written out before the next: the disk's
	// queue never holds much of a spare ahead of a commit's fdatasync.
	zeros := make([]byte, min(size, spareChunk))
	for off := int64(0); off < size && err == nil; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), size-off)
		if _, err = f.Write(zeros[:n]); err == nil {
			err = writeOut(f, off, n)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("wal prepare spare %s: %w", path, err)
	}
	return f, nil
}

// removeSpares removes the spares in dir (a dead process's, at start).
func removeSpares(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), sparePrefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("wal remove spare: %w", err)
			}
		}
	}
	return nil
}

func segmentName(now time.Time, seq int) string {
	return walPrefix + now.UTC().Format(segmentTimeLayout) + "-" + strconv.Itoa(seq) + walSuffix
}

// createSegment opens a new .part segment: spare (if not nil) renamed, or
// else a new empty file, and makes its directory entry durable, so that
// records fsynced into it survive a power loss. wrap, if set, wraps the
// file (tests).
func createSegment(dir string, now time.Time, seq int, spare *os.File, wrap func(*os.File) segmentFile) (*segment, error) {
	name := segmentName(now, seq)
	part := filepath.Join(dir, "."+name+partSuffix)
	f, capacity := spare, int64(0)
	if f != nil {
		info, err := f.Stat()
		if err == nil {
			err = os.Rename(f.Name(), part)
		}
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("wal create segment: %w", err)
		}
		capacity = info.Size()
	} else {
		var err error
		if f, err = os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err != nil {
			return nil, fmt.Errorf("wal create segment: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		os.Remove(part)
		return nil, err
	}
	seg := &segment{dir: dir, name: name, part: part, f: datasyncFile{f}, opened: now, capacity: capacity}
	if wrap != nil {
		seg.f = wrap(f)
	}
	return seg, nil
}

// fits reports whether n more bytes fit in the segment's zeros.
func (s *segment) fits(n int) bool {
	return s.capacity == 0 || s.size+int64(n) <= s.capacity
}

// finish cuts the segment's unused zeros, closes it and renames it to its
// final name, durably. An empty segment is removed instead.
func (s *segment) finish() error {
	if s.records == 0 && s.size == 0 {
		if err := s.f.Close(); err != nil {
			return fmt.Errorf("wal close %s: %w", s.part, err)
		}
		if err := os.Remove(s.part); err != nil {
			return fmt.Errorf("wal remove empty %s: %w", s.part, err)
		}
		return nil
	}
	if s.size < s.capacity {
		err := s.f.Truncate(s.size)
		if err == nil {
			err = fullSync(s.f) // the size: the spool must never read the zeros
		}
		if err != nil {
			s.f.Close()
			return fmt.Errorf("wal cut %s: %w", s.part, err)
		}
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("wal close %s: %w", s.part, err)
	}
	if err := os.Rename(s.part, filepath.Join(s.dir, s.name)); err != nil {
		return fmt.Errorf("wal rename %s: %w", s.part, err)
	}
	return syncDir(s.dir)
}

// syncDir fsyncs a directory, making the entries created, renamed or
// removed in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("wal sync dir %s: %w", dir, err)
	}
	return nil
}

// ErrWALLocked is returned by OpenWAL when another process holds the
// directory's log.
var ErrWALLocked = errors.New("write-ahead log in use by another process")

// lockDir takes an exclusive, non-blocking flock on dir's lock file, so
// that recovery never renames a segment another live process is writing.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, walLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wal lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrWALLocked, path)
		}
		return nil, fmt.Errorf("wal lock %s: %w", path, err)
	}
	return f, nil
}

// RecoverWAL hands the segments a dead process left open in dir to the
// spool: each .part is cut after its last complete line (a torn last line
// was never fsynced, so never acknowledged), fsynced and renamed to its
// final name; one without a complete line is removed. It returns how many
// segments it renamed. The caller must hold the directory's lock (OpenWAL
// does).
func RecoverWAL(dir string) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("wal recover: %w", err)
	}
	n := 0
	for _, e := range ents {
		if !e.Type().IsRegular() || !isWALPart(e.Name()) {
			continue
		}
		renamed, err := recoverPart(dir, e.Name())
		if err != nil {
			return n, err
		}
		if renamed {
			n++
		}
	}
	if err := syncDir(dir); err != nil {
		return n, err
	}
	return n, nil
}

func recoverPart(dir, name string) (bool, error) {
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("wal recover %s: %w", name, err)
	}
	keep := bytes.LastIndexByte(data, '\n') + 1
	if keep == 0 {
		if err := os.Remove(path); err != nil {
			return false, fmt.Errorf("wal recover %s: %w", name, err)
		}
		return false, nil
	}
	if keep < len(data) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return false, fmt.Errorf("wal recover %s: %w", name, err)
		}
		err = f.Truncate(int64(keep))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return false, fmt.Errorf("wal recover %s: truncate torn tail: %w", name, err)
		}
	}
	final := strings.TrimSuffix(strings.TrimPrefix(name, "."), partSuffix)
	if err := os.Rename(path, filepath.Join(dir, final)); err != nil {
		return false, fmt.Errorf("wal recover %s: %w", name, err)
	}
	return true, nil
}

// walMetrics are the log's Prometheus metrics.
type walMetrics struct {
	fsync         prometheus.Histogram
	commitRecords prometheus.Histogram
	rotations     prometheus.Counter
	spares        prometheus.Counter
	errors        *prometheus.CounterVec
}

func newWALMetrics() walMetrics {
	return walMetrics{
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "simcore_ingest_wal_fsync_duration_seconds",
			Help:    "Time of one fsync of the RADIUS write-ahead log (one per group commit).",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		commitRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "simcore_ingest_wal_commit_records",
			Help:    "Records written and fsynced together by one group commit of the RADIUS write-ahead log.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096},
		}),
		rotations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simcore_ingest_wal_rotations_total",
			Help: "Segments of the RADIUS write-ahead log closed and handed to the spool.",
		}),
		spares: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simcore_ingest_wal_spares_used_total",
			Help: "Segments of the RADIUS write-ahead log opened on a prepared file of zeros (the others were created empty: their fsyncs cost more).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_ingest_wal_errors_total",
			Help: "Failed operations of the RADIUS write-ahead log, by operation (open, write, sync, rotate, spare).",
		}, []string{"op"}),
	}
}

func (m walMetrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.fsync, m.commitRecords, m.rotations, m.spares, m.errors} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
