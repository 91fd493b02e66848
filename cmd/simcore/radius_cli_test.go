package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/simcore/simcore/ingest"
	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
	chstore "github.com/simcore/simcore/metering/clickhouse"
	mpg "github.com/simcore/simcore/metering/postgres"
)

// freePort returns a loopback address whose port was free a moment ago,
// for a child process to listen on (it cannot report a port it chose).
// The port is below Linux's ephemeral range (32768-60999), so the
// outgoing connections of tests running meanwhile, which take ephemeral
// ports, cannot take it before the child binds it; it is free for both TCP
// and UDP, and never handed out twice by this process.
func freePort(t testing.TB, network string) string {
	t.Helper()
	if network != "tcp" && network != "udp" {
		t.Fatalf("freePort: network %q", network)
	}
	freePorts.Lock()
	defer freePorts.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if freePorts.given[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		c, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		c.Close()
		freePorts.given[port] = true
		return addr
	}
	t.Fatal("freePort: no free port found in 127.0.0.1:20000-31999")
	return ""
}

var freePorts = struct {
	sync.Mutex
	given map[int]bool
}{given: map[int]bool{}}

// radclient sends the Accounting-Requests in text (blank-line separated)
// with FreeRADIUS's radclient and fails unless each is answered.
func radclient(t *testing.T, addr, secret, text string) {
	t.Helper()
	bin, err := exec.LookPath("radclient")
	if err != nil {
		t.Fatalf("radclient not found (apt-get install freeradius-utils): %v", err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "-r", "5", "-t", "2", addr, "acct", secret)
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	want := strings.Count(strings.TrimSpace(text), "\n\n") + 1
	if err != nil || strings.Count(string(out), "Accounting-Response") != want {
		t.Fatalf("radclient: %v, want %d Accounting-Responses:\n%s", err, want, out)
	}
}

// TestIngestRADIUSWithRadclient runs `simcore ingest --radius-addr` as a
// process, sends it accounting from radclient (interims, a retransmitted
// interim, Gigawords, an unknown IMSI) and checks what ClickHouse holds:
// each session's usage once, the partial records of a bearer as one
// session, the unknown IMSI quarantined until an inventory import and a
// retry store it. SIGTERM must stop the processes cleanly. It runs
// answering after the store (no spool), from the write-ahead log (with
// --spool), and split: a receiver with --store=false, given no reachable
// ClickHouse or PostgreSQL, beside a process storing its spool. The store
// must end the same in all three.
func TestIngestRADIUSWithRadclient(t *testing.T) {
	bin := buildBinary(t)
	for _, mode := range []string{"store", "wal", "split"} {
		t.Run(mode, func(t *testing.T) { testIngestRADIUSWithRadclient(t, bin, mode) })
	}
}

func testIngestRADIUSWithRadclient(t *testing.T, bin string, mode string) {
	chCfg := chstore.Config{Addr: testenv.ClickHouseAddr(t), Database: testenv.UniqueName("t_radcli_")}
	t.Cleanup(func() { _ = chstore.DropDatabase(context.Background(), chCfg) })
	const secret = "radclient-cli-secret"
	env := map[string]string{
		"SIMCORE_CLICKHOUSE_ADDR":     chCfg.Addr,
		"SIMCORE_CLICKHOUSE_DATABASE": chCfg.Database,
		"SIMCORE_POSTGRES_URL":        testenv.Postgres(t, "metering", mpg.MigrationsVersion(), mpg.Migrate),
		"SIMCORE_ACTIVATION_KEY":      "00112233445566778899aabbccddeeff",
		"SIMCORE_LOG_LEVEL":           "warn",
		"SIMCORE_INGEST_BATCH_WAIT":   "20ms",
		"SIMCORE_RADIUS_SECRET":       secret,
		"SIMCORE_OPS_ADDR":            freePort(t, "tcp"),
	}
	ctx := testenv.Context(t, 3*time.Minute)
	imsis := []string{"234150000031001", "234150000031002", "234150000031003"}
	iccids := []string{demoICCID(3101), demoICCID(3102), demoICCID(3103)}
	importSIMs := func(name string, idx ...int) {
		t.Helper()
		text := "iccid,imsi,activation_code\n"
		for _, i := range idx {
			text += fmt.Sprintf("%s,%s,RADCODE%d\n", iccids[i], imsis[i], i)
		}
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, errOut, err := runCLI(ctx, env, "sims", "import", p); err != nil {
			t.Fatalf("sims import: %v\n%s", err, errOut)
		}
	}
	importSIMs("sims1.csv", 0, 1)

	addr := freePort(t, "udp")
	var procs []*ingestProcess
	switch spool := t.TempDir(); mode {
	case "store":
		procs = append(procs, startIngest(t, ctx, bin, env, "ingest", "--radius-addr", addr))
	case "wal":
		procs = append(procs, startIngest(t, ctx, bin, env, "ingest", "--radius-addr", addr, "--spool", spool))
	case "split":
		receiver := maps.Clone(env)
		receiver["SIMCORE_CLICKHOUSE_ADDR"] = freePort(t, "tcp") // nothing listens: the receiver must not need it
		receiver["SIMCORE_POSTGRES_URL"] = "postgres://simcore@" + freePort(t, "tcp") + "/none"
		receiver["SIMCORE_OPS_ADDR"] = freePort(t, "tcp")
		procs = append(procs, startIngest(t, ctx, bin, receiver, "ingest", "--radius-addr", addr, "--spool", spool, "--store=false"))
		procs = append(procs, startIngest(t, ctx, bin, env, "ingest", "--spool", spool))
	}

	session := func(i int, id string, chargingID int) string {
		return fmt.Sprintf("User-Name = \"%s@iot.example\"\nAcct-Session-Id = \"%s\"\nNAS-IP-Address = 10.31.0.1\nNAS-Port = %d\n"+
			"3GPP-IMSI = \"%s\"\n3GPP-IMSI-MCC-MNC = \"23415\"\n3GPP-RAT-Type = EUTRAN\n3GPP-Charging-ID = %d\n3GPP-GGSN-Address = 10.31.0.9\n",
			imsis[i], id, i, imsis[i], chargingID)
	}
	a, b, c := session(0, "A-1", 501), session(1, "B-1", 502), session(2, "C-1", 503)
	interim := "Acct-Status-Type = Interim-Update\nAcct-Session-Time = 60\nAcct-Input-Octets = 1000\nAcct-Output-Octets = 5000\n"
	radclient(t, addr, secret, strings.Join([]string{
		a + "Acct-Status-Type = Start\nAcct-Session-Time = 0\n",
		a + interim,
		b + "Acct-Status-Type = Start\nAcct-Session-Time = 0\n",
		c + "Acct-Status-Type = Interim-Update\nAcct-Session-Time = 60\nAcct-Input-Octets = 77\nAcct-Output-Octets = 88\n",
	}, "\n"))
	radclient(t, addr, secret, strings.Join([]string{
		a + interim, // sent again by the NAS
		a + "Acct-Status-Type = Stop\nAcct-Session-Time = 90\nAcct-Input-Octets = 1500\nAcct-Output-Octets = 9000\n",
		b + "Acct-Status-Type = Stop\nAcct-Session-Time = 30\nAcct-Input-Octets = 10\nAcct-Input-Gigawords = 1\nAcct-Output-Octets = 20\n",
	}, "\n"))

	conn, err := chstore.Open(ctx, chCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if mode != "store" {
		// Answered from the log: the spool stores it within seconds.
		waitFor(t, time.Minute, func() bool {
			var records, rejects uint64
			err1 := conn.QueryRow(ctx, "SELECT count() FROM usage_records").Scan(&records)
			err2 := conn.QueryRow(ctx, "SELECT count() FROM rejected_records").Scan(&rejects)
			return err1 == nil && err2 == nil && records >= 3 && rejects >= 1
		}, func() string { return "the spool never stored the log:\n" + procs[len(procs)-1].stderr.String() })
	}
	if mode == "split" {
		// systemctl reload on an ingest without RADIUS: SIGHUP has
		// nothing to re-read there and must not end it (stop checks that
		// it still shuts down cleanly).
		spool := procs[1]
		if err := spool.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool { return strings.Contains(spool.stderr.String(), "nothing to reload") },
			func() string { return "SIGHUP not acknowledged:\n" + spool.stderr.String() })
	}
	for _, p := range procs {
		p.stop(t)
	}

	type usage struct{ records, up, down, dur uint64 }
	stored := func(iccid string) usage {
		t.Helper()
		var u usage
		if err := conn.QueryRow(ctx, "SELECT count(), sum(bytes_up), sum(bytes_down), sum(toUInt64(duration_s)) FROM usage_records WHERE iccid = ?", iccid).
			Scan(&u.records, &u.up, &u.down, &u.dur); err != nil {
			t.Fatal(err)
		}
		return u
	}
	for i, want := range []usage{{2, 1500, 9000, 90}, {1, 1<<32 + 10, 20, 30}, {}} {
		if got := stored(iccids[i]); got != want {
			t.Errorf("session of %s: stored %+v, want %+v", imsis[i], got, want)
		}
	}
	var quarantined uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM rejected_records FINAL WHERE reason = 'unknown_imsi' AND format = 'radius' AND position(raw, ?) > 0", imsis[2]).Scan(&quarantined); err != nil {
		t.Fatal(err)
	}
	if quarantined != 1 {
		t.Errorf("%d quarantined records of the unknown IMSI, want 1", quarantined)
	}

	// The bearer's two partial records are one session.
	out, errOut, err := runCLI(ctx, env, "usage", iccids[0], "--sessions", "--json")
	if err != nil {
		t.Fatalf("usage --sessions: %v\n%s", err, errOut)
	}
	var page metering.SessionPage
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("sessions %q: %v", out, err)
	}
	if len(page.Sessions) != 1 || page.Sessions[0].Parts != 2 || page.Sessions[0].BytesUp != 1500 ||
		page.Sessions[0].ChargingID != 501 || page.Sessions[0].PGWAddress != "10.31.0.9" {
		t.Errorf("sessions of %s = %+v, want one of 2 parts, 1500 bytes up, bearer 10.31.0.9/501", iccids[0], page.Sessions)
	}

	importSIMs("sims2.csv", 2)
	out, errOut, err = runCLI(ctx, env, "ingest", "--retry-rejected", "--source", "radius")
	if err != nil {
		t.Fatalf("retry: %v\n%s", err, errOut)
	}
	if got, want := summaryOf(t, out), (ingest.Summary{Read: 1, Stored: 1}); got != want {
		t.Errorf("retry summary %+v, want %+v", got, want)
	}
	if got, want := stored(iccids[2]), (usage{1, 77, 88, 60}); got != want {
		t.Errorf("after retry, %s stored %+v, want %+v", imsis[2], got, want)
	}
}
