package clickhouse

import (
	"math/rand/v2"
	"testing"

	"github.com/simcore/simcore/metering"
)

// BenchmarkKeySetHas measures a batch's dedupe lookups in a set holding
// two million keys (the benchmark's file, stored once), where each lookup
// is a cache miss. ns/op is per key.
func BenchmarkKeySetHas(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := newKeySet(0)
	for range 2_000_000 {
		s.add(metering.Key{Hi: rng.Uint64(), Lo: rng.Uint64()}, 1)
	}
	batch := make([]metering.Key, 100_000)
	for i := range batch {
		batch[i] = metering.Key{Hi: rng.Uint64(), Lo: rng.Uint64()}
	}
	found := make([]bool, len(batch))
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(len(batch), b.N-i)
		s.hasAll(batch[:n], found[:n])
		i += n
	}
}
