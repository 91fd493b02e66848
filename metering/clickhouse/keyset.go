package clickhouse

import (
	"github.com/simcore/simcore/metering"
)

// keySet holds the identities of the records stored within the dedupe window,
// each with the day (Unix days) its record started, so that old keys can be
// evicted. It is owned by one Writer and not safe for concurrent use.
type keySet struct {
	m map[metering.Key]int32
}

func newKeySet(hint int) *keySet { return &keySet{m: make(map[metering.Key]int32, hint)} }

func (s *keySet) has(k metering.Key) bool { _, ok := s.m[k]; return ok }

func (s *keySet) add(k metering.Key, day int32) { s.m[k] = day }

func (s *keySet) len() int { return len(s.m) }

// evictBefore drops keys of records that started before day.
func (s *keySet) evictBefore(day int32) int {
	n := 0
	for k, d := range s.m {
		if d < day {
			delete(s.m, k)
			n++
		}
	}
	return n
}

func unixDay(sec int64) int32 { return int32(sec / 86400) }
