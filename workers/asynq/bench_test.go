package asynq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	hq "github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/netsim/hlr"
	"github.com/simcore/simcore/netsim/mailsink"
	"github.com/simcore/simcore/netsim/smsc"
	"github.com/simcore/simcore/provisioning"
	ppg "github.com/simcore/simcore/provisioning/postgres"
	wasynq "github.com/simcore/simcore/workers/asynq"
	"github.com/simcore/simcore/workers/email"
	"github.com/simcore/simcore/workers/gateway"
	wsmpp "github.com/simcore/simcore/workers/smpp"
)

// BenchmarkProvisioningThroughput measures requests end to end: recorded
// (Submit), applied to the simulated network by one worker (concurrency
// 32), and marked done, with their SMS notices sent to the simulated SMSC.
// Lines get one request at a time per round (a line's requests are applied
// in order, so a second one would wait its turn); b.N requests run as
// rounds over benchLines lines. Reports requests/s and submit-to-done
// latency percentiles.
//
// notified/s counts until every notice has reached the SMSC, and
// go_cpu_us/req is this process's CPU time (submitters, worker and
// simulators) per request; server_cpu_us/req that of every PostgreSQL and
// Redis process on the machine (so it includes whatever else uses them).
func BenchmarkProvisioningThroughput(b *testing.B) {
	const benchLines = 4000
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)

	pgURL := testenv.Postgres(b, "provisioning", ppg.MigrationsVersion(), ppg.Migrate)
	// The pool simcore worker opens by default (see DefaultMaxConns for
	// what 20 or 80 connections cost).
	pool, err := pgxpool.New(ctx, pgURL+"&pool_max_conns="+strconv.Itoa(ppg.DefaultMaxConns))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	store := ppg.New(pool)
	sim, err := hlr.New(hlr.Config{Token: "tok", Seed: 1, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(sim.Handler())
	defer hs.Close()
	gw, err := gateway.New(gateway.Config{BaseURL: hs.URL, Token: "tok", Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	sc, err := smsc.New(smsc.Config{Addr: "127.0.0.1:0", SystemID: "simcore", Password: "pw", ReceiptDelay: 10 * time.Millisecond, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	if err := sc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	ms, err := mailsink.New(mailsink.Config{Addr: "127.0.0.1:0", Log: log})
	if err != nil {
		b.Fatal(err)
	}
	if err := ms.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer ms.Close()
	mailer, err := email.New(email.Config{Addr: ms.Addr(), From: "simcore@example.com", TLS: "none", Log: log})
	if err != nil {
		b.Fatal(err)
	}
	sender, err := wsmpp.New(wsmpp.Config{Addr: sc.Addr(), SystemID: "simcore", Password: "pw", SourceAddr: "simcore", Window: 50, Rate: math.Inf(1), Log: log})
	if err != nil {
		b.Fatal(err)
	}
	_ = sender.Start(ctx)
	defer sender.Close()
	addr, db := testenv.RedisDB(b)
	opt := hq.RedisClientOpt{Addr: addr, DB: db, PoolSize: 100}
	q := wasynq.NewQueue(opt)
	defer q.Close()
	svc := &provisioning.Service{Store: store, Queue: q, Gateway: gw, SMS: sender, SMSFrom: "simcore", VoicemailLanguage: provisioning.IsVoicemailLanguage}
	w, err := wasynq.NewWorker(wasynq.Config{Redis: opt, Service: svc, Mailer: mailer, Concurrency: benchConcurrency(), Fetchers: benchFetchers(), Log: log})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Shutdown()

	// Lines: SIMs, subscriptions, and the network's copy of them.
	h, _ := provisioning.NewActivationHasher([]byte("0123456789abcdef0123"))
	rows := make([]provisioning.SIMImportRow, benchLines)
	for i := range rows {
		rows[i] = provisioning.SIMImportRow{ICCID: iccid(10_000 + i), IMSI: fmt.Sprintf("23415%010d", 10_000+i), ActivationCode: "CODE123456"}
	}
	if _, err := store.ImportSIMs(ctx, rows, h); err != nil {
		b.Fatal(err)
	}
	plan, _ := store.CreatePlan(ctx, provisioning.Plan{Name: "bench", APN: "bench.apn"})
	acct, _ := store.CreateAccount(ctx, "bench")
	subs := make([]int64, benchLines)
	for i := range subs {
		subr, err := store.CreateSubscriber(ctx, provisioning.Subscriber{AccountID: acct, Name: "b", Email: "b@example.com", Language: "en"})
		if err != nil {
			b.Fatal(err)
		}
		if subs[i], err = store.CreateSubscription(ctx, subr, plan, msisdn(10_000+i), iccid(10_000+i), time.Now().UTC().Truncate(24*time.Hour)); err != nil {
			b.Fatal(err)
		}
		if err := gw.CreateSubscriber(ctx, "seed:"+msisdn(10_000+i), msisdn(10_000+i), rows[i].IMSI, rows[i].ICCID); err != nil {
			b.Fatal(err)
		}
	}

	rounds := (b.N + benchLines - 1) / benchLines
	var (
		mu   sync.Mutex
		lats []time.Duration
	)
	b.ResetTimer()
	start, cpu0, srv0, idle0 := time.Now(), processCPU(), serverCPU(), machineIdle()
	total := 0
	for round := range rounds {
		n := min(benchLines, b.N-total)
		ids := make([]string, n)
		submitted := make([]time.Time, n)
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < n; i += 16 {
					p, _ := json.Marshal(provisioning.VoicemailParams{Enabled: round%2 == 0, Language: "he"})
					submitted[i] = time.Now()
					r, err := svc.Submit(ctx, subs[i], provisioning.KindVoicemail, p, "bench")
					if err != nil {
						b.Error(err)
						return
					}
					ids[i] = r.ID
				}
			}()
		}
		wg.Wait()
		b.Logf("round %d: %d submitted in %s", round, n, time.Since(start).Round(time.Millisecond))
		// Wait until the round is done; latency is submit → done as stored.
		// The database is the benchmark's own, so "no request open" is the
		// round finished; the partial index of open requests answers it
		// cheaply (a count over 4,000 ids every 5 ms cost more than a tenth
		// of the process's CPU).
		for {
			var open int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM provisioning_requests WHERE state IN ('pending', 'in_progress')").Scan(&open); err != nil {
				b.Fatal(err)
			}
			if open == 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		rowsDone, err := pool.Query(ctx, "SELECT id::text, updated_at FROM provisioning_requests WHERE id = ANY($1::uuid[])", ids)
		if err != nil {
			b.Fatal(err)
		}
		at := map[string]time.Time{}
		for rowsDone.Next() {
			var (
				id string
				t  time.Time
			)
			_ = rowsDone.Scan(&id, &t)
			at[id] = t
		}
		rowsDone.Close()
		mu.Lock()
		for i, id := range ids {
			lats = append(lats, at[id].Sub(submitted[i]))
		}
		mu.Unlock()
		total += n
	}
	elapsed := time.Since(start)
	// The notices are sent after their requests are done; how long until
	// the SMSC has them all is reported too, so that work is not hidden.
	for len(sc.Messages()) < total {
		time.Sleep(10 * time.Millisecond)
	}
	allSent := time.Since(start)
	cpu, srv, idle := processCPU()-cpu0, serverCPU()-srv0, machineIdle().sub(idle0)
	b.StopTimer()
	var done int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM provisioning_requests WHERE state = 'done' AND requested_by = 'bench'").Scan(&done); err != nil || done != total {
		b.Fatalf("%d requests done (%v), want %d", done, err, total)
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	b.ReportMetric(float64(total)/elapsed.Seconds(), "requests/s")
	b.ReportMetric(float64(lats[len(lats)/2].Milliseconds()), "p50_ms")
	b.ReportMetric(float64(lats[len(lats)*99/100].Milliseconds()), "p99_ms")
	b.ReportMetric(float64(total)/allSent.Seconds(), "notified/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(total), "go_cpu_us/req")
	b.ReportMetric(float64(srv.Microseconds())/float64(total), "server_cpu_us/req")
	b.ReportMetric(idle.pct(), "idle_%")
	if ns, ok := sim.Subscriber(msisdn(10_000)); !ok || ns.Voicemail.Language != "he" {
		b.Fatalf("network state not applied: %+v", ns)
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU is the CPU time used so far by the postgres and redis-server
// processes that are running, read from /proc (0 where it cannot be read).
// Backends that exit during the run are not counted; the benchmark's pool
// keeps its connections.
func serverCPU() time.Duration {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime stime: fields 14 and 15.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		if comm := s[open+1 : end]; comm != "postgres" && comm != "redis-server" {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + k
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// The worker's concurrency and fetchers, 32 and the worker's default
// unless BENCH_CONC or BENCH_FETCHERS say otherwise (for A/B runs).
func benchConcurrency() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_CONC")); err == nil {
		return n
	}
	return 32
}

func benchFetchers() int {
	n, _ := strconv.Atoi(os.Getenv("BENCH_FETCHERS")) // 0: the default
	return n
}

// cpuTimes is the machine's idle and total CPU time so far, in ticks, from
// the first line of /proc/stat: idle_% says whether a run was bound by
// the CPU (near 0) or by waiting on something serial.
type cpuTimes struct{ idle, total int64 }

func machineIdle() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var t cpuTimes
	for i, f := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseInt(f, 10, 64)
		if i < 8 { // user nice system idle iowait irq softirq steal; guest time is in user
			t.total += n
		}
		if i == 3 || i == 4 {
			t.idle += n
		}
	}
	return t
}

func (t cpuTimes) sub(u cpuTimes) cpuTimes { return cpuTimes{t.idle - u.idle, t.total - u.total} }

func (t cpuTimes) pct() float64 {
	if t.total == 0 {
		return 0
	}
	return 100 * float64(t.idle) / float64(t.total)
}
