package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"github.com/simcore/simcore/internal/testenv"
	chstore "github.com/simcore/simcore/metering/clickhouse"
	mpg "github.com/simcore/simcore/metering/postgres"
)

// radiusBench is a running `simcore ingest --radius-addr` (in this process)
// over its own ClickHouse and PostgreSQL databases, with benchSIMs SIMs in
// the inventory.
type radiusBench struct {
	addr   *net.UDPAddr
	secret []byte
	imsis  []string
	ch     chstore.Config
	round  atomic.Int64 // benchmark invocations, so each uses new sessions
	wal    bool         // answers come from the write-ahead log; storing follows
	ops    string       // the ops server's address (/metrics)
	pid    int          // the receiver's process; 0: this one
}

// startBenchProcess starts bin as startIngest does, and stops it with
// SIGTERM, checked to exit cleanly, when b ends. It returns the process id.
func startBenchProcess(b *testing.B, bin string, env map[string]string, args ...string) int {
	b.Helper()
	p := startIngest(b, context.Background(), bin, env, args...)
	b.Cleanup(func() { p.stop(b) })
	return p.cmd.Process.Pid
}

const benchSIMs = 1000

// Where a RADIUS benchmark stores: after the insert, answering from the
// write-ahead log with the spool in the same process, or with the spool in
// a process of its own (the receiver runs with --store=false).
const (
	storeInline = iota
	storeWAL
	storeSplit
)

// startRADIUSBench starts the receiver, storing as store says: in this
// process, or (storeSplit) receiver and store as processes of their own.
func startRADIUSBench(b *testing.B, store int) *radiusBench {
	b.Helper()
	rb := &radiusBench{secret: []byte("bench-radius-secret"), wal: store != storeInline}
	rb.ch = chstore.Config{Addr: testenv.ClickHouseAddr(b), Database: testenv.UniqueName("b_radius_")}
	b.Cleanup(func() { _ = chstore.DropDatabase(context.Background(), rb.ch) })
	env := map[string]string{
		"SIMCORE_CLICKHOUSE_ADDR":     rb.ch.Addr,
		"SIMCORE_CLICKHOUSE_DATABASE": rb.ch.Database,
		"SIMCORE_POSTGRES_URL":        testenv.Postgres(b, "metering", mpg.MigrationsVersion(), mpg.Migrate),
		"SIMCORE_ACTIVATION_KEY":      "00112233445566778899aabbccddeeff",
		"SIMCORE_LOG_LEVEL":           "warn",
		"SIMCORE_RADIUS_SECRET":       string(rb.secret),
	}
	ctx, cancel := context.WithCancel(context.Background())
	var sims strings.Builder
	sims.WriteString("iccid,imsi,activation_code\n")
	for i := range benchSIMs {
		imsi := fmt.Sprintf("23415%010d", 5_000_000+i)
		rb.imsis = append(rb.imsis, imsi)
		fmt.Fprintf(&sims, "%s,%s,BENCH%05d\n", demoICCID(500_000+i), imsi, i)
	}
	file := filepath.Join(b.TempDir(), "sims.csv")
	if err := os.WriteFile(file, []byte(sims.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	if _, errOut, err := runCLI(ctx, env, "sims", "import", file); err != nil {
		b.Fatalf("sims import: %v\n%s", err, errOut)
	}

	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.LocalAddr().String()
	l.Close()
	ops, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	env["SIMCORE_OPS_ADDR"] = ops.Addr().String()
	rb.ops = env["SIMCORE_OPS_ADDR"]
	ops.Close()
	done := make(chan error, 1)
	var errOut testenv.Buffer
	args := []string{"ingest", "--radius-addr", addr}
	if rb.wal {
		args = append(args, "--spool", b.TempDir())
	}
	if store == storeSplit {
		// Receiver and store each in a process of their own, as deployed,
		// and this process only plays the NASes.
		bin := buildBinary(b)
		storeEnv := maps.Clone(env)
		storeEnv["SIMCORE_OPS_ADDR"] = freePort(b, "tcp")
		startBenchProcess(b, bin, storeEnv, "ingest", "--spool", args[len(args)-1])
		rb.pid = startBenchProcess(b, bin, env, append(args, "--store=false")...)
		cancel()
	} else {
		go func() {
			done <- run(ctx, args, func(k string) string { return env[k] },
				stdio{in: strings.NewReader(""), out: &testenv.Buffer{}, err: &errOut})
		}()
		b.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				b.Errorf("ingest: %v\n%s", err, errOut.String())
			}
		})
	}
	if store != storeSplit {
		waitReady(b, env["SIMCORE_OPS_ADDR"], func() string { return "ingest never ready:\n" + errOut.String() })
	}
	if rb.addr, err = net.ResolveUDPAddr("udp", addr); err != nil {
		b.Fatal(err)
	}
	return rb
}

// interim encodes an Interim-Update of session sid of IMSI imsi whose
// counters are i times a step, so every update adds usage.
func (rb *radiusBench) interim(b *testing.B, sid, imsi string, i uint32) []byte {
	p := radius.New(radius.CodeAccountingRequest, rb.secret)
	p.Identifier = byte(i)
	err := firstErr(
		rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_InterimUpdate),
		rfc2866.AcctSessionID_SetString(p, sid),
		rfc2865.UserName_SetString(p, imsi+"@iot.example"),
		rfc2865.NASIPAddress_Set(p, net.IPv4(10, 77, 0, 1)),
		rfc2866.AcctSessionTime_Set(p, rfc2866.AcctSessionTime(i*60)),
		rfc2866.AcctInputOctets_Set(p, rfc2866.AcctInputOctets(i*1000)),
		rfc2866.AcctOutputOctets_Set(p, rfc2866.AcctOutputOctets(i*9000)),
	)
	if err != nil {
		b.Fatal(err)
	}
	vsa := append([]byte{1, byte(2 + len(imsi))}, imsi...) // 3GPP-IMSI
	vsa = append(vsa, 2, 6, byte(i>>24), byte(i>>16), 0x77, 0x01)
	a, err := radius.NewVendorSpecific(10415, vsa)
	if err != nil {
		b.Fatal(err)
	}
	p.Add(rfc2865.VendorSpecific_Type, a)
	raw, err := p.Encode()
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkRADIUSPipeline measures RADIUS accounting end to end: clients
// NAS sockets each send an Interim-Update and wait for its
// Accounting-Response, which simcore sends only once the delta record is
// resolved (IMSI → ICCID from PostgreSQL), deduplicated and inserted into
// ClickHouse with its rollups. Every request adds usage, so each is one
// stored record. It reports requests/s and the client-side p50 and p99
// round trip, and checks afterwards that every request was stored once.
// Run with -benchtime Nx.
//
// RADIUS requests end their source at once (they do not wait MaxWait for
// company), so the batch wait does not matter here: a batch holds what
// arrived while the writer stored the previous one.
func BenchmarkRADIUSPipeline(b *testing.B) {
	rb := startRADIUSBench(b, storeInline)
	for _, clients := range []int{64, 512, 2048} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { rb.bench(b, clients, 0) })
	}
}

// BenchmarkRADIUSPipelineWAL is BenchmarkRADIUSPipeline with a spool
// directory: simcore answers once the delta record is fsynced to its
// write-ahead log (group commit), and the spool stores the log's segments
// afterwards. Besides requests/s and the round trip it reports store_lag_s,
// from the last answer until ClickHouse holds every answered record, and
// checks that each is stored once.
//
// The closed loop (each client sends its next request when answered) has
// clients requests outstanding at all times, so its mean round trip is
// clients / throughput (Little's law): with 2,048 clients a 5 ms p99 would
// need 400,000 requests/s. The rate= cases offer a fixed load instead, as
// NASes do: 256 clients together send rate requests/s, each on its own
// schedule, and the round trip is measured from the scheduled send, so a
// late answer also counts against the requests it delays. Issue #7's
// target is at 20,000/s; the lower rates show how much of the tail is the
// machine's load and how much the disk (fsyncs_over_5ms).
func BenchmarkRADIUSPipelineWAL(b *testing.B) {
	benchRADIUSCases(b, startRADIUSBench(b, storeWAL))
}

// BenchmarkRADIUSPipelineSplit is BenchmarkRADIUSPipelineWAL with the
// receiver alone in its process (--store=false) and the spool storing
// its log from another `simcore ingest --spool` process, as an operator
// who needs the answer's tail short deploys it: the store's Go work
// (decoding segments, building inserts, its garbage) then competes with
// the answers only as another process, which the kernel schedules
// preemptively, not as goroutines queued beside them.
func BenchmarkRADIUSPipelineSplit(b *testing.B) {
	benchRADIUSCases(b, startRADIUSBench(b, storeSplit))
}

func benchRADIUSCases(b *testing.B, rb *radiusBench) {
	for _, clients := range []int{64, 512, 2048} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { rb.bench(b, clients, 0) })
	}
	for _, rate := range []int{5_000, 10_000, 20_000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { rb.bench(b, 256, rate) })
	}
}

// bench runs b.N requests from clients NAS sockets: each as fast as it is
// answered (rate 0), or all together at rate requests/s.
func (rb *radiusBench) bench(b *testing.B, clients, rate int) {
	round := rb.round.Add(1)
	conn, err := chstore.Open(context.Background(), rb.ch)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	count := func() uint64 {
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM usage_records").Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	before := count()
	fsyncBefore := rb.histogram(b, "simcore_ingest_wal_fsync_duration_seconds")
	respBefore := rb.histogram(b, "simcore_radius_response_duration_seconds")
	runqBefore := runQueueWait(rb.pid)
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	// Every NAS has its socket before the clock starts: the round trips
	// are the receiver's, not this process's start.
	var dialed sync.WaitGroup // dialled and their packets built
	dialed.Add(clients)
	begin := make(chan struct{})
	var start time.Time
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			udp, err := net.DialUDP("udp", nil, rb.addr)
			if err != nil {
				dialed.Done()
				b.Error(err)
				return
			}
			defer udp.Close()
			sid := "bench-" + strconv.FormatInt(round, 10) + "-" + strconv.Itoa(c)
			imsi := rb.imsis[c%len(rb.imsis)]
			// A NAS's packets are built before the clock starts, as a
			// load generator does: building one (attributes, MD5) took
			// this process a third of its CPU, which the receiver then
			// lacked. One closed-loop client may send more than its
			// share: those it builds as it goes.
			packets := make([][]byte, b.N/clients+1)
			for i := range packets {
				packets[i] = rb.interim(b, sid, imsi, uint32(i+1))
			}
			lat[c] = make([]time.Duration, 0, len(packets))
			buf := make([]byte, radius.MaxPacketLength)
			dialed.Done()
			<-begin
			var every time.Duration
			sched := start
			if rate > 0 {
				every = time.Duration(clients) * time.Second / time.Duration(rate)
				sched = start.Add(every * time.Duration(c) / time.Duration(clients))
			}
			for i := uint32(1); next.Add(1) <= int64(b.N); i++ {
				var raw []byte
				if int(i) <= len(packets) {
					raw = packets[i-1]
				} else {
					raw = rb.interim(b, sid, imsi, i)
				}
				t0 := time.Now()
				if rate > 0 {
					time.Sleep(time.Until(sched))
					t0, sched = sched, sched.Add(every)
				}
				for try := 0; ; try++ {
					// A NAS retransmits until it is answered.
					if _, err := udp.Write(raw); err != nil {
						b.Error(err)
						return
					}
					udp.SetReadDeadline(time.Now().Add(5 * time.Second))
					if _, err := udp.Read(buf); err == nil {
						break
					} else if try == 3 {
						b.Errorf("no answer after %d tries: %v", try+1, err)
						return
					}
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	dialed.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	start = time.Now()
	close(begin)
	wg.Wait()
	b.StopTimer()
	// Time the receiver's threads were runnable but waited for a CPU
	// (Linux schedstat), per second of the run: the machine's contention.
	b.ReportMetric((runQueueWait(rb.pid)-runqBefore).Seconds()*1000/b.Elapsed().Seconds(), "runq_wait_ms/s")
	// The receiver's own view (receive to send), so that a tail the NASes
	// see can be told apart from one this process (the NASes) adds: the
	// share of answers that took the receiver over 5 ms.
	if resp := rb.histogram(b, "simcore_radius_response_duration_seconds"); resp["count"] > respBefore["count"] {
		n := resp["count"] - respBefore["count"]
		b.ReportMetric(100*((resp["count"]-resp["0.005"])-(respBefore["count"]-respBefore["0.005"]))/n, "%server_over_5ms")
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "requests/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99_ms")
	}
	if rb.wal {
		// What the log's fsyncs did meanwhile: how many, and how many
		// were slower than the whole 5 ms budget.
		fsync := rb.histogram(b, "simcore_ingest_wal_fsync_duration_seconds")
		b.ReportMetric(fsync["count"]-fsyncBefore["count"], "fsyncs")
		b.ReportMetric((fsync["count"]-fsync["0.005"])-(fsyncBefore["count"]-fsyncBefore["0.005"]), "fsyncs_over_5ms")
		b.ReportMetric((fsync["count"]-fsync["0.05"])-(fsyncBefore["count"]-fsyncBefore["0.05"]), "fsyncs_over_50ms")
		// Segments reach ClickHouse through the spool: wait for them.
		answered := time.Now()
		deadline := answered.Add(2 * time.Minute)
		for count()-before < uint64(len(all)) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		b.ReportMetric(time.Since(answered).Seconds(), "store_lag_s")
	}
	if got := count() - before; got != uint64(len(all)) {
		b.Errorf("%d requests answered, %d records stored", len(all), got)
	}
}

// histogram reads a histogram from the receiver's /metrics: its
// cumulative bucket counts by upper bound ("0.005") and its "count".
func (rb *radiusBench) histogram(b *testing.B, name string) map[string]float64 {
	resp, err := http.Get("http://" + rb.ops + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	h := map[string]float64{}
	for line := range strings.Lines(string(text)) {
		key, val, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch {
		case key == name+"_count":
			h["count"] = v
		case strings.HasPrefix(key, name+`_bucket{le="`):
			h[strings.TrimSuffix(strings.TrimPrefix(key, name+`_bucket{le="`), `"}`)] = v
		}
	}
	return h
}

// runQueueWait sums the time the threads of process pid (0: this one)
// spent waiting on a run queue (the second field of
// /proc/PID/task/*/schedstat); 0 where the kernel does not say.
func runQueueWait(pid int) time.Duration {
	proc := "self"
	if pid != 0 {
		proc = strconv.Itoa(pid)
	}
	paths, _ := filepath.Glob("/proc/" + proc + "/task/*/schedstat")
	var total time.Duration
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			total += time.Duration(ns)
		}
	}
	return total
}
