package radius

import (
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2866"
)

// BenchmarkAccounting measures Interim-Updates answered per second over
// loopback with 64 concurrent NAS sockets, each waiting for its answer, and
// the client-side p99 round trip. Every request advances its session so
// each one reaches the Sink.
func BenchmarkAccounting(b *testing.B) {
	s := startServer(b, &recordingSink{fail: func(int) bool { return false }})
	sink := s.sink.(*recordingSink)
	const clients = 64
	addr, err := net.ResolveUDPAddr("udp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			conn, err := net.DialUDP("udp", nil, addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			buf := make([]byte, radius.MaxPacketLength)
			sid := "bench-" + strconv.Itoa(c)
			for i := uint32(1); next.Add(1) <= int64(b.N); i++ {
				p := acctPacket(b, testSecret, usage{status: rfc2866.AcctStatusType_Value_InterimUpdate,
					sessionS: i, in: i * 100, out: i * 200, acctSessionID: sid})
				p.Identifier = byte(i)
				raw, err := p.Encode()
				if err != nil {
					b.Error(err)
					return
				}
				t0 := time.Now()
				if _, err := conn.Write(raw); err != nil {
					b.Error(err)
					return
				}
				conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				if _, err := conn.Read(buf); err != nil {
					b.Error(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "requests/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99_ms")
	}
	sink.mu.Lock()
	sink.recs = nil // keep memory flat across b.N rounds
	sink.mu.Unlock()
}
