package clickhouse

import (
	"github.com/simcore/simcore/metering"
)

// keySet holds the identities of the records stored within the dedupe
// window, each with the day (Unix days) its record started, so that old keys
// can be evicted. Keys are already uniform hashes, so the set indexes by
// their low bits directly: open addressing with linear probing, 20 bytes a
// slot, at most 3/4 full. It is owned by one Writer and not safe for
// concurrent use.
type keySet struct {
	keys  []metering.Key // zero Key marks an empty slot
	days  []int32
	n     int
	mask  uint64
	zero  bool // the zero Key itself is a member
	zeroD int32
}

func newKeySet(hint int) *keySet {
	size := 1024
	for size*3/4 < hint {
		size *= 2
	}
	return &keySet{keys: make([]metering.Key, size), days: make([]int32, size), mask: uint64(size - 1)}
}

func (s *keySet) slot(k metering.Key) (int, bool) {
	i := k.Lo & s.mask
	for {
		switch s.keys[i] {
		case k:
			return int(i), true
		case metering.Key{}:
			return int(i), false
		}
		i = (i + 1) & s.mask
	}
}

func (s *keySet) has(k metering.Key) bool {
	if k == (metering.Key{}) {
		return s.zero
	}
	_, ok := s.slot(k)
	return ok
}

// add inserts k (or updates its day) and reports whether it was new.
func (s *keySet) add(k metering.Key, day int32) bool {
	if k == (metering.Key{}) {
		was := s.zero
		s.zero, s.zeroD = true, day
		if !was {
			s.n++
		}
		return !was
	}
	i, ok := s.slot(k)
	s.days[i] = day
	if ok {
		return false
	}
	s.keys[i] = k
	s.n++
	if s.n*4 > len(s.keys)*3 {
		s.rehash(len(s.keys)*2, -1<<31)
	}
	return true
}

func (s *keySet) len() int { return s.n }

// reset empties the set, keeping its memory.
func (s *keySet) reset() {
	clear(s.keys)
	s.n, s.zero = 0, false
}

// rehash rebuilds the table at size, dropping keys whose day is before
// minDay.
func (s *keySet) rehash(size int, minDay int32) {
	old, oldDays := s.keys, s.days
	s.keys, s.days, s.mask, s.n = make([]metering.Key, size), make([]int32, size), uint64(size-1), 0
	if s.zero {
		if s.zeroD < minDay {
			s.zero = false
		} else {
			s.n++
		}
	}
	for i, k := range old {
		if k == (metering.Key{}) || oldDays[i] < minDay {
			continue
		}
		j, _ := s.slot(k)
		s.keys[j], s.days[j] = k, oldDays[i]
		s.n++
	}
}

// evictBefore drops keys of records that started before day and returns how
// many it dropped.
func (s *keySet) evictBefore(day int32) int {
	before := s.n
	size := len(s.keys)
	s.rehash(size, day)
	for size > 1024 && s.n*4 < size { // shrink when a quarter full
		size /= 2
	}
	if size != len(s.keys) {
		s.rehash(size, day)
	}
	return before - s.n
}

func unixDay(sec int64) int32 { return int32(sec / 86400) }

// hasAll sets found[i] to whether keys[i] is a member.
func (s *keySet) hasAll(keys []metering.Key, found []bool) {
	for i, k := range keys {
		found[i] = s.has(k)
	}
}
