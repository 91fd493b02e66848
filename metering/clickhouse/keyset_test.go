package clickhouse

import (
	"math/rand/v2"
	"testing"

	"github.com/simcore/simcore/metering"
)

func TestKeySetAgreesWithMap(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	s := newKeySet(0)
	ref := map[metering.Key]int32{}
	keys := []metering.Key{{}} // the zero key is a member like any other
	for range 20000 {
		keys = append(keys, metering.Key{Hi: rng.Uint64(), Lo: rng.Uint64() & 0xffff}) // many low-bit collisions
	}
	for i, k := range keys {
		day := int32(i % 100)
		if got, want := s.add(k, day), !has(ref, k); got != want {
			t.Fatalf("add(%v) new = %v, want %v", k, got, want)
		}
		ref[k] = day
		if i%3 == 0 { // re-adding is not new
			if s.add(k, day) {
				t.Fatalf("re-add(%v) reported new", k)
			}
		}
	}
	check := func(stage string) {
		t.Helper()
		if s.len() != len(ref) {
			t.Fatalf("%s: len %d, want %d", stage, s.len(), len(ref))
		}
		for _, k := range keys {
			if s.has(k) != has(ref, k) {
				t.Fatalf("%s: has(%v) = %v, want %v", stage, k, s.has(k), has(ref, k))
			}
		}
		found := make([]bool, len(keys))
		s.hasAll(keys, found)
		for i, k := range keys {
			if found[i] != has(ref, k) {
				t.Fatalf("%s: hasAll: %v found = %v, want %v", stage, k, found[i], has(ref, k))
			}
		}
		for range 1000 {
			k := metering.Key{Hi: rng.Uint64(), Lo: rng.Uint64()}
			if s.has(k) != has(ref, k) {
				t.Fatalf("%s: has(random %v) wrong", stage, k)
			}
		}
	}
	check("after adds")
	dropped := s.evictBefore(50)
	want := 0
	for k, d := range ref {
		if d < 50 {
			delete(ref, k)
			want++
		}
	}
	if dropped != want {
		t.Fatalf("evicted %d, want %d", dropped, want)
	}
	check("after eviction")
	s.reset()
	if s.len() != 0 || s.has(keys[1]) || s.has(metering.Key{}) {
		t.Fatal("reset left members")
	}
}

func has(m map[metering.Key]int32, k metering.Key) bool { _, ok := m[k]; return ok }

func BenchmarkKeySetAddHas(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	keys := make([]metering.Key, 1<<20)
	for i := range keys {
		keys[i] = metering.Key{Hi: rng.Uint64(), Lo: rng.Uint64()}
	}
	b.ReportAllocs()
	b.ResetTimer()
	s := newKeySet(len(keys))
	for i := 0; i < b.N; i++ {
		k := keys[i&(len(keys)-1)]
		if !s.has(k) {
			s.add(k, 1)
		}
	}
}
