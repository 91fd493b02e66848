//go:build !linux

package ingest

import (
	"math"
	"os"
)

// datasync is an fsync where the system has no fdatasync.
func datasync(f *os.File) error { return f.Sync() }

// writeOut does nothing where the system has no sync_file_range.
func writeOut(*os.File, int64, int64) error { return nil }

// freeBytes does not know the free space where the system has no statfs
// here: spares are always prepared.
func freeBytes(string) (uint64, error) { return math.MaxUint64, nil }
