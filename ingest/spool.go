package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Spool watches a directory for usage files. A file is ingested once, then
// moved to done/ with a NAME.summary.json beside it; a file that cannot be
// read at all (unknown format, bad header) moves to rejected/ with a
// NAME.reason.txt, and so does one that cannot be cut into records past
// some line (a record over MaxRecordBytes: usually a stray quote that
// joins the rest of the file), whose records before that line are stored.
// A crash between the ingest and the move re-ingests the file on restart;
// its records are then duplicates and count once. A move that fails (the
// filesystem read-only or full, done/ without permissions) is logged once
// and retried alone at each scan, without ingesting the file again.
//
// Writers should create files under a temporary name (a leading dot or a
// .tmp/.part suffix) and rename them into place; files changed within the
// last Settle are left for the next scan. A file whose time is in the
// future (copied with its times from a host whose clock is ahead) is taken
// once its size and time stayed the same for Settle.
//
// Files in done/ are already stored; with a Retention they are deleted
// that long after they were moved there (rejected/ is left for people).
//
// Spools of several processes may watch one directory: each file is taken
// by one of them, which holds an flock on it until it is moved (claim).
type Spool struct {
	Dir      string
	Pipeline *Pipeline
	Log      *slog.Logger
	Mapping  *Mapping // used for *.txt/*.dat files, if set
	Interval time.Duration
	Settle   time.Duration
	// Retention is how long done/ keeps a file; 0 keeps every file.
	Retention time.Duration
	// PruneEvery is how often done/ is pruned; default an hour.
	PruneEvery time.Duration

	// ahead holds files whose modification time is in the future (copied
	// with their times from a host whose clock is ahead): when each was
	// first seen with its current size and time.
	ahead map[string]aheadFile

	// unmoved holds files handled whose move out of the directory failed
	// (a read-only or full filesystem, lost permissions): later scans
	// retry the move alone, not the ingest, while the file keeps its size
	// and time. Each keeps its lock, so other processes' spools leave it
	// alone. A restart forgets them and ingests them again: their records
	// are then duplicates.
	unmoved map[string]unmovedFile

	// rename is os.Rename when nil; tests inject failures with it.
	rename func(oldpath, newpath string) error
	// afterClaim, when set, runs between taking a file and ingesting it
	// (tests).
	afterClaim func(name string)
	// flock is syscall.Flock when nil; tests refuse locks with it.
	flock func(fd, how int) error
	// lockRefused: the filesystem refused a lock, and the log said so
	// once.
	lockRefused bool
}

// unmovedFile is a handled file still waiting for its move to done/ or
// rejected/, with the note (summary or reason) to write beside it.
type unmovedFile struct {
	size    int64
	mod     time.Time
	to, ext string
	note    []byte
	// dst is where the last try moved it to, kept for the next: a name
	// that to/ already holds takes a time suffix, a new one each try,
	// and each try writes the note beside it.
	dst string
	// release lets go of the file's lock (claim), kept until the move so
	// that other processes' spools do not ingest it again.
	release func()
	// held is the file that was read: a file of the same name renamed
	// over it meanwhile (a feed reusing a name) is not moved unread.
	held os.FileInfo
}

type aheadFile struct {
	size int64
	mod  time.Time
	seen time.Time
}

// settled reports whether a file has stopped changing: last modified
// Settle ago or more, or, for a time in the future, seen with the same size
// and time for Settle.
func (s *Spool) settled(name string, info fs.FileInfo, now time.Time) bool {
	if !info.ModTime().After(now) {
		delete(s.ahead, name)
		return now.Sub(info.ModTime()) >= s.Settle
	}
	if s.ahead == nil {
		s.ahead = map[string]aheadFile{}
	}
	a, ok := s.ahead[name]
	if !ok || a.size != info.Size() || !a.mod.Equal(info.ModTime()) {
		s.ahead[name] = aheadFile{size: info.Size(), mod: info.ModTime(), seen: now}
		return false
	}
	if now.Sub(a.seen) < s.Settle {
		return false
	}
	delete(s.ahead, name)
	return true
}

// FormatForName picks the format from a file name: .csv → csv,
// .ndjson/.jsonl/.json → ndjson, .ber/.cdr → ber; with a mapping, anything
// else → mapped.
func FormatForName(name string, haveMapping bool) (string, bool) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return FormatCSV, true
	case ".ndjson", ".jsonl", ".json":
		return FormatNDJSON, true
	case ".ber", ".cdr":
		return FormatBER, true
	}
	if haveMapping {
		return FormatMapped, true
	}
	return "", false
}

// Run scans the directory until ctx ends.
func (s *Spool) Run(ctx context.Context) error {
	if s.Interval <= 0 {
		s.Interval = time.Second
	}
	if s.Settle <= 0 {
		s.Settle = time.Second
	}
	for _, d := range []string{s.Dir, filepath.Join(s.Dir, "done"), filepath.Join(s.Dir, "rejected")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	if s.PruneEvery <= 0 {
		s.PruneEvery = time.Hour
	}
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	var pruned time.Time
	for {
		if _, err := s.ScanOnce(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error("spool scan", "dir", s.Dir, "err", err)
		}
		if s.Retention > 0 && time.Since(pruned) >= s.PruneEvery {
			n, err := s.PruneDone(time.Now().Add(-s.Retention))
			if err != nil {
				s.Log.Warn("spool prune", "dir", s.Dir, "err", err)
			} else if n > 0 {
				s.Log.Info("spool pruned done/", "files", n, "retention", s.Retention)
			}
			pruned = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// CheckSpoolDir makes the spool directory dir with its done/ and
// rejected/ where they are missing, and checks that a file can be created
// in each, as the spool and the RADIUS write-ahead log need. It returns
// the error of the first step that fails, naming the path.
func CheckSpoolDir(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, "done"), filepath.Join(dir, "rejected")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		f, err := os.CreateTemp(d, ".simcore-check-*")
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		f.Close()
		if err := os.Remove(f.Name()); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	return nil
}

// ScanOnce ingests every settled file in the directory, oldest first, and
// returns how many it handled. A file that fails (an error that is not
// about its content, which moves it to rejected/) is left for the next scan
// and the others go on; the errors are returned together.
func (s *Spool) ScanOnce(ctx context.Context) (int, error) {
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		return 0, err
	}
	// Run makes these too, but ScanOnce may be called without it.
	for _, d := range []string{"done", "rejected"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o755); err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
	}
	type cand struct {
		name string
		mod  time.Time
		size int64
	}
	var files []cand
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".tmp") || strings.HasSuffix(n, ".part") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		// A log segment is complete once renamed; anything else may still
		// be written in place.
		if !IsWALSegment(n) && !s.settled(n, info, time.Now()) {
			continue
		}
		files = append(files, cand{n, info.ModTime(), info.Size()})
	}
	if len(s.ahead) > 0 || len(s.unmoved) > 0 {
		present := make(map[string]struct{}, len(ents))
		for _, e := range ents {
			present[e.Name()] = struct{}{}
		}
		for name := range s.ahead {
			if _, ok := present[name]; !ok {
				delete(s.ahead, name) // gone before it settled
			}
		}
		for name, u := range s.unmoved {
			if _, ok := present[name]; !ok {
				s.forgetUnmoved(name, u) // moved by someone else
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	n := 0
	var errs []error
	for _, f := range files {
		if ctx.Err() != nil {
			return n, nil
		}
		if u, ok := s.unmoved[f.name]; ok {
			if u.size == f.size && u.mod.Equal(f.mod) {
				if s.retryMove(f.name, u) {
					n++
				}
				continue
			}
			s.forgetUnmoved(f.name, u) // replaced by a new file of that name
		}
		file, ok := s.claim(f.name)
		if !ok {
			continue // another process's spool has it, or had it and moved it
		}
		release := func() {
			if file != nil {
				file.Close()
			}
		}
		if s.afterClaim != nil {
			s.afterClaim(f.name)
		}
		err := s.ingestFile(ctx, f.name, file, f.size, f.mod)
		if u, ok := s.unmoved[f.name]; ok && u.release == nil {
			u.release = release // held until the move succeeds
			s.unmoved[f.name] = u
		} else {
			release()
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func (s *Spool) ingestFile(ctx context.Context, name string, file *os.File, size int64, mod time.Time) error {
	start := time.Now()
	var (
		sum  Summary
		err  error
		held os.FileInfo // the file read, which the move must find under name
	)
	if file == nil {
		// Not taken (claim could not open it): the ingest opens the name
		// and reports what is wrong.
		if file, err = os.Open(filepath.Join(s.Dir, name)); err != nil {
			return fmt.Errorf("spool ingest %s: %w", name, err)
		}
		defer file.Close()
	}
	if held, err = file.Stat(); err != nil {
		return fmt.Errorf("spool ingest %s: %w", name, err)
	}
	if IsWALSegment(name) {
		sum, err = s.ingestSegment(ctx, name, file)
	} else {
		sum, err = s.ingestStream(ctx, name, file)
	}
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrStopped) {
			// Not acknowledged; the next start ingests it again.
			return nil
		}
		var fatal *FileError
		if errors.As(err, &fatal) {
			return s.reject(name, held, size, mod, err)
		}
		return fmt.Errorf("spool ingest %s: %w", name, err)
	}
	s.Pipeline.CountFile("spool", "ingested")
	s.Log.Info("spool file ingested", "file", name, "read", sum.Read, "stored", sum.Stored, "duplicates", sum.Duplicates, "rejected", sum.Rejected, "took", time.Since(start).Round(time.Millisecond))
	b, _ := json.Marshal(sum)
	return s.moveOut(unmovedFile{size: size, mod: mod, to: "done", ext: ".summary.json", note: append(b, '\n'), held: held}, name)
}

// claim locks file name of the spool for this process until release, so
// that spools of other processes on the same directory (operators run two
// ingest processes for availability) skip it: without it both ingest each
// file, both write a summary (each counting as duplicates what the other
// stored) and one fails its move. It reports false when another process
// holds the lock, or the file is gone or replaced (moved to done/ by the
// process that had it). The lock is an flock on the file: it ends with the
// process, so a file whose ingest died is taken by the next scan. Where
// the filesystem refuses flock, the file is ingested without it, as by a
// lone spool.
func (s *Spool) claim(name string) (f *os.File, ok bool) {
	path := filepath.Join(s.Dir, name)
	f, err := os.Open(path)
	if err != nil {
		// Gone: moved by the process that ingested it. Anything else is
		// an error for the ingest to report (f nil: it opens the name).
		return nil, !errors.Is(err, os.ErrNotExist)
	}
	lock := s.flock
	if lock == nil {
		lock = syscall.Flock
	}
	switch err := lock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
	case errors.Is(err, syscall.EWOULDBLOCK):
		f.Close()
		return nil, false
	case err != nil:
		if !s.lockRefused {
			s.lockRefused = true
			s.Log.Warn("spool files cannot be locked on this filesystem; another ingest process on the same spool would ingest the same files (stored once, but with two summaries)", "file", name, "err", err)
		}
		return f, true
	}
	// Locked, but perhaps only after another process ingested the file
	// and moved it away (this open came before its move).
	held, err1 := f.Stat()
	now, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(held, now) {
		f.Close()
		return nil, false
	}
	return f, true
}

// moveOut moves a handled file to u.to (done/ or rejected/) with its note
// beside it. When the move fails, the file is kept in s.unmoved for the
// next scans to retry the move only, and the error is returned (logged
// once by Run) and counted as outcome move_failed.
func (s *Spool) moveOut(u unmovedFile, name string) error {
	if err := s.move(&u, name); err != nil {
		if s.unmoved == nil {
			s.unmoved = map[string]unmovedFile{}
		}
		s.unmoved[name] = u
		s.Pipeline.CountFile("spool", "move_failed")
		return fmt.Errorf("%w (the move is retried at each scan, the file is not ingested again)", err)
	}
	return nil
}

// retryMove retries the move of a file handled before and reports whether
// it was moved. A failure again is not logged: the first one was.
func (s *Spool) retryMove(name string, u unmovedFile) bool {
	if err := s.move(&u, name); err != nil {
		s.unmoved[name] = u
		return false
	}
	s.forgetUnmoved(name, u)
	s.Log.Info("spool file moved after an earlier failure", "file", name, "to", u.to)
	return true
}

// forgetUnmoved drops name from s.unmoved and lets go of its lock.
func (s *Spool) forgetUnmoved(name string, u unmovedFile) {
	delete(s.unmoved, name)
	if u.release != nil {
		u.release()
	}
}

func (s *Spool) move(u *unmovedFile, name string) error {
	if _, err := os.Lstat(u.dst); u.dst == "" || !errors.Is(err, os.ErrNotExist) {
		u.dst = uniquePath(filepath.Join(s.Dir, u.to, name))
	}
	dst := u.dst
	if u.held != nil {
		if now, err := os.Stat(filepath.Join(s.Dir, name)); err == nil && !os.SameFile(u.held, now) {
			// The file read is gone from the spool: a new file took its
			// name. Its note goes to to/ alone; the new file stays for
			// the next scan.
			_ = os.WriteFile(dst+u.ext, u.note, 0o644)
			s.Log.Warn("spool file replaced while it was handled; the new file stays for the next scan", "file", name, "note", filepath.Base(dst+u.ext))
			return nil
		}
	}
	// The summary goes first, so that whoever watches done/ finds it
	// with the file. It is a copy of what the log says of the file, so a
	// failure to write it (a full disk) does not keep the file in the
	// spool; it is reported once the file has moved (a failed move is
	// retried, summary and all).
	noteErr := os.WriteFile(dst+u.ext, u.note, 0o644)
	if noteErr != nil {
		if fi, err := os.Lstat(dst + u.ext); err == nil && fi.Mode().IsRegular() {
			_ = os.Remove(dst + u.ext) // a partial summary would mislead
		}
	}
	if err := s.renameFile(filepath.Join(s.Dir, name), dst); err != nil {
		return fmt.Errorf("spool move %s to %s: %w", name, u.to, err)
	}
	if noteErr != nil {
		s.Log.Warn("spool summary not written; the file was moved, and its log line says what the summary would", "file", name, "to", u.to, "err", noteErr)
	}
	if u.to == "done" {
		// Retention counts from now, not from when the feed wrote the
		// file (a copy may keep an old modification time).
		now := time.Now()
		if err := os.Chtimes(dst, now, now); err != nil {
			s.Log.Warn("spool touch", "file", dst, "err", err)
		}
	}
	return nil
}

// PruneDone deletes the regular files in done/ last modified before
// before (ingested files, stamped when they were moved there, and their
// summaries), and returns how many it deleted. A file another process
// deletes meanwhile is not an error.
func (s *Spool) PruneDone(before time.Time) (int, error) {
	dir := filepath.Join(s.Dir, "done")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("spool prune: %w", err)
	}
	n := 0
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(before) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("spool prune: %w", err)
		}
		n++
	}
	return n, nil
}

// ingestStream ingests a file dropped into the spool in the format its
// name says.
func (s *Spool) ingestStream(ctx context.Context, name string, f *os.File) (Summary, error) {
	format, ok := FormatForName(name, s.Mapping != nil)
	if !ok {
		return Summary{}, &FileError{fmt.Errorf("unknown format for %q: want .csv, .ndjson, .jsonl, .ber or .cdr (or a mapping file)", name)}
	}
	return s.Pipeline.Ingest(ctx, Source{Kind: "spool", Name: name, Format: format, Mapping: s.Mapping, R: f})
}

func (s *Spool) reject(name string, held os.FileInfo, size int64, mod time.Time, why error) error {
	s.Log.Warn("spool file rejected", "file", name, "err", why)
	s.Pipeline.CountFile("spool", "rejected")
	return s.moveOut(unmovedFile{size: size, mod: mod, to: "rejected", ext: ".reason.txt", note: []byte(why.Error() + "\n"), held: held}, name)
}

func (s *Spool) renameFile(oldpath, newpath string) error {
	if s.rename != nil {
		return s.rename(oldpath, newpath)
	}
	return os.Rename(oldpath, newpath)
}

// uniquePath returns p, or p with a time suffix if p exists.
func uniquePath(p string) string {
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return p
	}
	return p + "." + time.Now().UTC().Format("20060102T150405.000000000")
}

// FileError is a source that cannot be read as its format at all.
type FileError struct{ Err error }

func (e *FileError) Error() string { return e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }
