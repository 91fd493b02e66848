package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/metering"
)

// ErrWALClosed is returned by WAL.Accept once Close has begun.
var ErrWALClosed = errors.New("write-ahead log closed")

// WALConfig configures a WAL.
type WALConfig struct {
	// Dir is the spool directory: segments are written there and, once
	// complete, picked up by the Spool watching it.
	Dir      string
	Log      *slog.Logger
	Registry prometheus.Registerer // nil: metrics are not registered
	// RotateEvery is the longest a segment stays open; default 1 s.
	RotateEvery time.Duration
	// MaxRecords rotates a segment after the group commit that brings it
	// to this many records; default 50,000 (half a batch of the ingest
	// command, which stores a segment as one or two inserts).
	MaxRecords int
	Now        func() time.Time

	// freeBytes reports the space left on dir's file system
	// (default: statfs); spareBackoff is how long spares pause after a
	// failed one (default 30 s). Tests set them.
	freeBytes    func(dir string) (uint64, error)
	spareBackoff time.Duration
}

// Validate returns an error if c cannot be used.
func (c *WALConfig) Validate() error {
	if c.Dir == "" {
		return errors.New("wal: no directory")
	}
	if c.RotateEvery < 0 || c.MaxRecords < 0 {
		return errors.New("wal: negative RotateEvery or MaxRecords")
	}
	return nil
}

// WAL is the RADIUS receiver's durable acceptance: a local write-ahead log
// of NDJSON segments in the spool directory (see docs/ingest.md). Accept
// returns once the records are written and fsynced; one goroutine writes
// whatever requests are pending and fsyncs once for all of them (group
// commit). Every RotateEvery or MaxRecords the open segment
// (.radius-wal-*.ndjson.part) is closed and renamed to radius-wal-*.ndjson,
// and the Spool stores it exactly once like any file dropped there.
//
// A WAL is safe for concurrent use. It holds an exclusive lock on the
// directory's .radius-wal.lock for its lifetime.
type WAL struct {
	cfg  WALConfig
	log  *slog.Logger
	lock *os.File
	m    walMetrics

	mu      sync.Mutex
	pending *walCommit // records waiting for the next write
	closed  bool
	kick    chan struct{} // a commit is pending (capacity 1)
	stop    chan struct{}
	done    chan struct{}

	// wrapFile, if set before the first Accept, wraps each segment's
	// file (tests inject faults with it).
	wrapFile func(*os.File) segmentFile

	// health is the outcome of the latest commit (a *walHealth).
	health atomic.Pointer[walHealth]

	// Owned by the commit goroutine.
	seg   *segment
	seq   int
	spare []byte

	// The helper goroutine prepares the next segment's spare file and
	// finishes rotated segments, off the commit goroutine's path.
	spares  spareSlot
	prepare chan struct{} // take the slot's want (capacity 1)
	retire  chan *segment // rotated segments to finish; closed at the end
	helped  chan struct{} // closed when the helper has returned
}

// spareSlot holds the prepared spare and the size of the next one wanted.
type spareSlot struct {
	mu    sync.Mutex
	ready *os.File
	want  int64
}

type walHealth struct{ err error }

// walHealthy is every successful commit's health, so a commit allocates
// none.
var walHealthy walHealth

// Health returns the error of the latest commit, or nil when it was
// written and fsynced (or none has run yet). A readiness check uses it:
// a receiver whose log cannot write answers no NAS and should be taken
// out of service until a commit succeeds again.
func (w *WAL) Health() error {
	if h := w.health.Load(); h != nil {
		return h.err
	}
	return nil
}

// walCommit is one group commit: the lines of every request that arrived
// while the previous one was written, and its outcome.
type walCommit struct {
	buf  []byte
	n    int
	done chan struct{} // closed once err is set
	err  error
}

func newCommit(buf []byte) *walCommit {
	return &walCommit{buf: buf[:0], done: make(chan struct{})}
}

// OpenWAL locks cfg.Dir's log, recovers the segments a previous process
// left open (RecoverWAL) and starts the commit goroutine; Close stops it.
// It returns an error if the directory cannot be used or another process
// holds its lock.
func OpenWAL(cfg WALConfig) (*WAL, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RotateEvery == 0 {
		cfg.RotateEvery = time.Second
	}
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = 50_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.freeBytes == nil {
		cfg.freeBytes = freeBytes
	}
	if cfg.spareBackoff == 0 {
		cfg.spareBackoff = 30 * time.Second
	}
	w := &WAL{
		cfg:     cfg,
		log:     cfg.Log,
		m:       newWALMetrics(),
		pending: newCommit(nil),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		prepare: make(chan struct{}, 1),
		retire:  make(chan *segment, 8),
		helped:  make(chan struct{}),
	}
	if cfg.Registry != nil {
		if err := w.m.register(cfg.Registry); err != nil {
			return nil, fmt.Errorf("register wal metrics: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	w.lock = lock
	n, err := RecoverWAL(cfg.Dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	if n > 0 {
		w.log.Info("wal segments recovered for the spool", "dir", cfg.Dir, "segments", n)
	}
	if err := removeSpares(cfg.Dir); err != nil {
		lock.Close()
		return nil, err
	}
	go w.help()
	w.wantSpare(spareSize(0))
	go w.loop()
	return w, nil
}

// Accept appends recs to the log and returns nil once they are fsynced,
// or the error of writing them (ErrWALClosed after Close, ctx's error if
// ctx ends first; the records may then still be written, and are stored
// once whatever the NAS does next, since the store removes duplicates by
// identity).
func (w *WAL) Accept(ctx context.Context, recs []metering.Record) error {
	if len(recs) == 0 {
		return nil
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrWALClosed
	}
	c := w.pending
	for i := range recs {
		c.buf = AppendNDJSON(c.buf, &recs[i])
	}
	c.n += len(recs)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes what is pending, closes and renames the open segment for
// the spool, and releases the directory's lock. Accept calls after Close
// began return ErrWALClosed. Calling it again is a no-op.
func (w *WAL) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return w.lock.Close() // releases the flock
}

// loop is the commit goroutine: it writes pending records whenever there
// are some and rotates the open segment when it is due.
func (w *WAL) loop() {
	defer close(w.done)
	defer func() { <-w.helped }()
	defer close(w.retire)
	tick := time.NewTicker(max(w.cfg.RotateEvery/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-w.kick:
			w.commit()
		case <-tick.C:
			w.rotateIfDue()
		case <-w.stop:
			w.commit()
			if w.seg != nil {
				w.rotate()
			}
			return
		}
	}
}

// commit writes the pending records, fsyncs once and answers every Accept
// waiting for them.
func (w *WAL) commit() {
	w.mu.Lock()
	c := w.pending
	if c.n == 0 {
		w.mu.Unlock()
		return
	}
	w.pending = newCommit(w.spare)
	w.mu.Unlock()
	c.err = w.write(c.buf, c.n)
	if c.err == nil {
		w.health.Store(&walHealthy)
	} else {
		w.health.Store(&walHealth{err: c.err})
	}
	w.spare = c.buf // Accept callers read only c.err
	close(c.done)
	w.m.commitRecords.Observe(float64(c.n))
	w.rotateIfDue()
}

// write appends lines (n records) to the open segment, opening one if
// needed, and fsyncs it. On error the segment is cut back to what was
// already durable and set aside for the spool.
func (w *WAL) write(lines []byte, n int) error {
	if w.seg != nil && w.seg.size > 0 && !w.seg.fits(len(lines)) {
		w.rotate() // its zeros are used up: the next commit goes to a spare
	}
	if w.seg == nil {
		w.seq++
		seg, err := createSegment(w.cfg.Dir, w.cfg.Now(), w.seq, w.takeSpare(), w.wrapFile)
		if err != nil {
			w.m.errors.WithLabelValues("open").Inc()
			return err
		}
		w.seg = seg
	}
	seg := w.seg
	good := seg.size
	if _, err := seg.f.WriteAt(lines, good); err != nil {
		w.m.errors.WithLabelValues("write").Inc()
		w.abandon(good)
		return fmt.Errorf("wal write %s: %w", seg.part, err)
	}
	start := time.Now()
	err := seg.f.Sync()
	w.m.fsync.Observe(time.Since(start).Seconds())
	if err != nil {
		w.m.errors.WithLabelValues("sync").Inc()
		w.abandon(good)
		return fmt.Errorf("wal fsync %s: %w", seg.part, err)
	}
	w.seg.size += int64(len(lines))
	w.seg.records += n
	return nil
}

// abandon cuts the open segment back to good bytes (all fsynced and
// acknowledged) and hands it to the spool; if that fails it stays a .part
// for RecoverWAL at the next start. Either way the next write opens a new
// segment.
func (w *WAL) abandon(good int64) {
	seg := w.seg
	w.seg = nil
	err := seg.f.Truncate(good)
	if err == nil {
		err = fullSync(seg.f)
	}
	if err != nil {
		seg.f.Close()
		w.log.Error("wal segment left for recovery at the next start", "file", seg.part, "err", err)
		return
	}
	if err := seg.finish(); err != nil {
		w.m.errors.WithLabelValues("rotate").Inc()
		w.log.Error("wal segment left for recovery at the next start", "file", seg.part, "err", err)
	}
}

// rotateIfDue rotates the open segment when it is full or old enough.
func (w *WAL) rotateIfDue() {
	if w.seg == nil {
		return
	}
	if w.seg.records >= w.cfg.MaxRecords || w.cfg.Now().Sub(w.seg.opened) >= w.cfg.RotateEvery {
		w.rotate()
	}
}

// rotate hands the open segment to the helper, which closes it and
// renames it for the spool (or does so itself when the helper is behind),
// and asks for a spare the size the segment's rate would fill in
// RotateEvery. Its records are all fsynced already.
func (w *WAL) rotate() {
	seg := w.seg
	w.seg = nil
	want := seg.size
	if open := w.cfg.Now().Sub(seg.opened); open > 0 && open < w.cfg.RotateEvery {
		want = int64(float64(seg.size) * float64(w.cfg.RotateEvery) / float64(open))
	}
	if seg.records > 0 {
		want = min(want, seg.size/int64(seg.records)*int64(w.cfg.MaxRecords))
	}
	w.wantSpare(spareSize(want))
	select {
	case w.retire <- seg:
	default:
		w.finish(seg)
	}
}

// finish closes a rotated segment and renames it for the spool; a failed
// rename leaves a .part that RecoverWAL renames at the next start.
func (w *WAL) finish(seg *segment) {
	if err := seg.finish(); err != nil {
		w.m.errors.WithLabelValues("rotate").Inc()
		w.log.Error("wal segment left for recovery at the next start", "file", seg.part, "err", err)
		return
	}
	w.m.rotations.Inc()
}

// wantSpare sets the size of the next spare and wakes the helper.
func (w *WAL) wantSpare(size int64) {
	w.spares.mu.Lock()
	w.spares.want = size
	w.spares.mu.Unlock()
	select {
	case w.prepare <- struct{}{}:
	default:
	}
}

// takeSpare returns the prepared spare, or nil when there is none yet
// (the segment is then created empty), and wakes the helper for the next.
func (w *WAL) takeSpare() *os.File {
	w.spares.mu.Lock()
	f := w.spares.ready
	w.spares.ready = nil
	w.spares.mu.Unlock()
	if f != nil {
		w.m.spares.Inc()
	}
	select {
	case w.prepare <- struct{}{}:
	default:
	}
	return f
}

// help is the helper goroutine: it finishes rotated segments and keeps one
// spare prepared. It returns once retire is closed and drained, removing
// the spare.
func (w *WAL) help() {
	defer close(w.helped)
	n, failing := 0, false
	var retry time.Time // no spare before then: the last one failed
	for {
		select {
		case seg, ok := <-w.retire:
			if !ok {
				w.spares.mu.Lock()
				f := w.spares.ready
				w.spares.ready = nil
				w.spares.mu.Unlock()
				if f != nil {
					f.Close()
					os.Remove(f.Name())
				}
				return
			}
			w.finish(seg)
		case <-w.prepare:
			w.spares.mu.Lock()
			ready, want := w.spares.ready != nil, w.spares.want
			w.spares.mu.Unlock()
			if ready || time.Now().Before(retry) {
				continue
			}
			// A spare must leave the disk ample room: writing one on a
			// nearly full disk took the last free blocks for a moment,
			// and the open segment's next commit failed (ENOSPC) where
			// a segment without spares would have grown.
			free, err := w.cfg.freeBytes(w.cfg.Dir)
			need := uint64(want) + max(spareMinFree, 4*uint64(want))
			if err == nil && free < need {
				err = fmt.Errorf("%d bytes free on the spool's file system; a spare of %d wants %d", free, want, need)
			} else if err == nil {
				n++
				var f *os.File
				if f, err = prepareSpare(w.cfg.Dir, n, want); err == nil {
					if failing {
						w.log.Info("wal spares prepared again")
					}
					failing = false
					w.spares.mu.Lock()
					w.spares.ready = f
					w.spares.mu.Unlock()
					continue
				}
			}
			// The next segments are created empty: their fsyncs cost
			// more, nothing else changes. Logged when it starts; tried
			// again after spareBackoff.
			w.m.errors.WithLabelValues("spare").Inc()
			if !failing {
				w.log.Warn("wal spares paused; segments are created empty until one is prepared", "err", err, "retry_in", w.cfg.spareBackoff)
			}
			failing = true
			retry = time.Now().Add(w.cfg.spareBackoff)
		}
	}
}
