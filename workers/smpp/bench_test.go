package smpp

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/simcore/simcore/netsim/smsc"
	"github.com/simcore/simcore/provisioning"
)

// BenchmarkSubmit measures single-part submits per second to the simulator
// on loopback, rate unlimited, by window; the simulator answers at once and
// sends a receipt for each, which the Sender reads and correlates.
//
//	go test -run '^$' -bench BenchmarkSubmit -benchtime 50000x ./workers/smpp/
func BenchmarkSubmit(b *testing.B) {
	for _, window := range []int{1, 10, 50, 200} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			sim := startSMSC(b, smsc.Config{MaxMessages: -1})
			s, _ := startSender(b, sim, func(c *Config) { c.Window, c.Rate = window, -1 })
			sms := provisioning.SMS{To: "4512345678", Text: "Your SIM is active."}
			next := make(chan struct{}, 1024)
			var wg sync.WaitGroup
			var failed sync.Once
			for range 2 * window {
				wg.Go(func() {
					for range next {
						if _, err := s.SendSMS(context.Background(), sms); err != nil {
							failed.Do(func() { b.Error(err) })
						}
					}
				})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				next <- struct{}{}
			}
			close(next)
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submits/s")
		})
	}
}
