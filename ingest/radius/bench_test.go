package radius

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
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
	benchAccounting(b, startServer(b, &recordingSink{fail: func(int) bool { return false }}))
}

// BenchmarkAccountingClients is BenchmarkAccounting with a clients file
// instead of one secret: 100 NASes whose prefixes have five lengths, the
// loopback sender matching the shortest, so each packet costs the longest
// lookup.
func BenchmarkAccountingClients(b *testing.B) {
	clients, err := ParseClients(strings.NewReader(benchClients()))
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Addr: "127.0.0.1:0", Clients: clients}
	benchAccounting(b, startServerConfig(b, cfg, &recordingSink{fail: func(int) bool { return false }}))
}

// benchClients is a clients file of 100 NASes: /32 hosts, /28 and /24
// pools, /16 sites, and loopback (the benchmark's NAS) as a /8.
func benchClients() string {
	var sb strings.Builder
	for i := range 96 {
		fmt.Fprintf(&sb, "10.%d.%d.%d nas-secret-%d\n", i%4, i/4, i+1, i)
	}
	sb.WriteString("10.200.0.16/28 pool-a\n10.201.0.0/24 pool-b\n172.16.0.0/16 site-c\n")
	sb.WriteString("127.0.0.0/8 " + string(testSecret) + "\n")
	return sb.String()
}

// BenchmarkClientsLookup measures one source address lookup in the
// clients of BenchmarkAccountingClients, through all five lengths.
func BenchmarkClientsLookup(b *testing.B) {
	clients, err := ParseClients(strings.NewReader(benchClients()))
	if err != nil {
		b.Fatal(err)
	}
	from := &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40000}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := clients.Lookup(sourceIP(from)); !ok {
			b.Fatal("no client")
		}
	}
}

func benchAccounting(b *testing.B, s testServer) {
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
