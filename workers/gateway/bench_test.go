package gateway_test

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/simcore/simcore/netsim/hlr"
	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/workers/gateway"
)

// BenchmarkRoundTrip measures client → simulator round trips over TCP on
// 127.0.0.1: forwarding changes (each with a new key, so each is applied and
// stored) and reads, one caller and as many callers as GOMAXPROCS×4.
func BenchmarkRoundTrip(b *testing.B) {
	s := newSim(b, hlr.Config{}, gateway.Config{}, nil)
	s.create(b, 1)
	var n atomic.Int64
	ops := map[string]func(*gateway.Client) error{
		"set_forwarding": func(g *gateway.Client) error {
			i := n.Add(1)
			return g.SetForwarding(b.Context(), "bench-"+strconv.FormatInt(i, 10), msisdn(1), provisioning.ForwardBusy, msisdn(int(i%1000)))
		},
		"get_subscriber": func(g *gateway.Client) error {
			_, err := g.Subscriber(b.Context(), msisdn(1))
			return err
		},
	}
	for _, name := range []string{"set_forwarding", "get_subscriber"} {
		op := ops[name]
		b.Run(name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := op(s.client); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := op(s.client); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
