package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"github.com/simcore/simcore/internal/testenv"
	chstore "github.com/simcore/simcore/metering/clickhouse"
	mpg "github.com/simcore/simcore/metering/postgres"
)

// walNAS is one NAS session of the crash test: it sends Interim-Updates
// whose counters are n times a step, one at a time, each retransmitted
// every 200 ms until answered, whichever process is listening then.
type walNAS struct {
	session string
	imsi    string
	secret  []byte
	acked   atomic.Uint32 // highest n answered; all below it were answered first
}

func (n *walNAS) packet(t *testing.T, i uint32) []byte {
	p := radius.New(radius.CodeAccountingRequest, n.secret)
	p.Identifier = byte(i)
	err := firstErr(
		rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_InterimUpdate),
		rfc2866.AcctSessionID_SetString(p, n.session),
		rfc2865.UserName_SetString(p, n.imsi+"@iot.example"),
		rfc2865.NASIdentifier_SetString(p, "crash-nas"),
		rfc2866.AcctSessionTime_Set(p, rfc2866.AcctSessionTime(i*60)),
		rfc2866.AcctInputOctets_Set(p, rfc2866.AcctInputOctets(i*1000)),
		rfc2866.AcctOutputOctets_Set(p, rfc2866.AcctOutputOctets(i*3000)),
	)
	if err != nil {
		t.Error(err)
		return nil
	}
	vsa := append([]byte{1, byte(2 + len(n.imsi))}, n.imsi...) // 3GPP-IMSI
	a, err := radius.NewVendorSpecific(10415, vsa)
	if err != nil {
		t.Error(err)
		return nil
	}
	p.Add(rfc2865.VendorSpecific_Type, a)
	raw, err := p.Encode()
	if err != nil {
		t.Error(err)
		return nil
	}
	return raw
}

// run sends updates until stop is closed, finishing the one outstanding.
func (n *walNAS) run(t *testing.T, addr *net.UDPAddr, stop <-chan struct{}) {
	udp, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer udp.Close()
	buf := make([]byte, radius.MaxPacketLength)
	for i := uint32(1); ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		raw := n.packet(t, i)
		if raw == nil {
			return
		}
		deadline := time.Now().Add(3 * time.Minute)
		for answered := false; !answered; {
			if time.Now().After(deadline) {
				t.Errorf("session %s: update %d never answered", n.session, i)
				return
			}
			_, _ = udp.Write(raw) // refused while no process listens: retransmit
			udp.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			for {
				m, err := udp.Read(buf)
				if err != nil {
					break
				}
				// An answer to an earlier copy of an earlier update is not this one's.
				if m >= 20 && buf[0] == byte(radius.CodeAccountingResponse) && buf[1] == byte(i) {
					answered = true
					break
				}
			}
		}
		n.acked.Store(i)
	}
}

var recordIDUpdate = regexp.MustCompile(`/t(\d+)i\d+o\d+$`)

// TestRADIUSWALSurvivesSIGKILL runs `simcore ingest --spool --radius-addr`
// as a process under NAS sessions sending interims as fast as they are
// answered, SIGKILLs it at random moments and restarts it, while each NAS
// retransmits its unanswered update to whichever process listens. At the
// end ClickHouse must hold, for every session, exactly one record for
// every update that was answered (none lost, none twice, however the kill
// fell between log, answer and store), the session's usage once, and the
// same in the rollups.
func TestRADIUSWALSurvivesSIGKILL(t *testing.T) {
	bin := buildBinary(t)
	chCfg := chstore.Config{Addr: testenv.ClickHouseAddr(t), Database: testenv.UniqueName("t_radwal_")}
	t.Cleanup(func() { _ = chstore.DropDatabase(context.Background(), chCfg) })
	const secret = "radius-wal-crash-secret"
	spool := t.TempDir()
	env := map[string]string{
		"SIMCORE_CLICKHOUSE_ADDR":     chCfg.Addr,
		"SIMCORE_CLICKHOUSE_DATABASE": chCfg.Database,
		"SIMCORE_POSTGRES_URL":        testenv.Postgres(t, "metering", mpg.MigrationsVersion(), mpg.Migrate),
		"SIMCORE_ACTIVATION_KEY":      "00112233445566778899aabbccddeeff",
		"SIMCORE_LOG_LEVEL":           "warn",
		"SIMCORE_INGEST_BATCH_WAIT":   "50ms",
		"SIMCORE_RADIUS_SECRET":       secret,
		"SIMCORE_OPS_ADDR":            freePort(t, "tcp"),
	}
	ctx := testenv.Context(t, 6*time.Minute)
	const sessions = 24
	var sims strings.Builder
	sims.WriteString("iccid,imsi,activation_code\n")
	nases := make([]*walNAS, sessions)
	for i := range nases {
		imsi := fmt.Sprintf("23415%010d", 7_000_000+i)
		fmt.Fprintf(&sims, "%s,%s,WALCRASH%d\n", demoICCID(700_000+i), imsi, i)
		nases[i] = &walNAS{session: "crash-" + strconv.Itoa(i), imsi: imsi, secret: []byte(secret)}
	}
	simsFile := filepath.Join(t.TempDir(), "sims.csv")
	if err := os.WriteFile(simsFile, []byte(sims.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := runCLI(ctx, env, "sims", "import", simsFile); err != nil {
		t.Fatalf("sims import: %v\n%s", err, errOut)
	}

	addr := freePort(t, "udp")
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	start := func() *ingestProcess {
		t.Helper()
		return startIngest(t, ctx, bin, env, "ingest", "--spool", spool, "--radius-addr", addr)
	}

	stop := make(chan struct{})
	var clients sync.WaitGroup
	for _, n := range nases {
		clients.Go(func() { n.run(t, udpAddr, stop) })
	}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 11))
	t.Logf("kill schedule seed %d", seed)
	for round := range 6 {
		p := start()
		time.Sleep(time.Duration(200+rng.IntN(1500)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := p.wait(); err == nil {
			t.Fatalf("round %d: ingest exited cleanly before its kill:\n%s", round, p.stderr.String())
		}
		// Left open by the dead process: recovered by the next.
		parts, _ := filepath.Glob(filepath.Join(spool, ".radius-wal-*.part"))
		t.Logf("round %d killed, %d open segments left", round, len(parts))
	}
	p := start()
	time.Sleep(time.Second)
	close(stop)
	clients.Wait()
	if t.Failed() {
		t.FailNow()
	}

	conn, err := chstore.Open(ctx, chCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var want uint64
	for _, n := range nases {
		want += uint64(n.acked.Load())
	}
	count := func() uint64 {
		var c uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM usage_records").Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	waitFor(t, 2*time.Minute, func() bool { return count() >= want },
		func() string {
			return fmt.Sprintf("store holds %d records, want %d:\n%s", count(), want, p.stderr.String())
		})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(); err != nil {
		t.Fatalf("ingest after SIGTERM: %v\n%s", err, p.stderr.String())
	}
	t.Logf("%d updates answered across %d sessions", want, sessions)

	for i, n := range nases {
		iccid, last := demoICCID(700_000+i), uint64(n.acked.Load())
		rows, err := conn.Query(ctx, "SELECT record_id, bytes_up, bytes_down, duration_s FROM usage_records WHERE iccid = ?", iccid)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[uint64]int{}
		var up, down, dur uint64
		for rows.Next() {
			var (
				id     string
				u, d   uint64
				secs   uint32
				update uint64
			)
			if err := rows.Scan(&id, &u, &d, &secs); err != nil {
				t.Fatal(err)
			}
			m := recordIDUpdate.FindStringSubmatch(id)
			if m == nil {
				t.Fatalf("record id %q is not a RADIUS update's", id)
			}
			update, _ = strconv.ParseUint(m[1], 10, 64)
			seen[update/60]++
			up, down, dur = up+u, down+d, dur+uint64(secs)
		}
		rows.Close()
		for k := uint64(1); k <= last; k++ {
			if seen[k] != 1 {
				t.Errorf("session %s: answered update %d stored %d times, want once", n.session, k, seen[k])
			}
		}
		if uint64(len(seen)) != last || up != 1000*last || down != 3000*last || dur != 60*last {
			t.Errorf("session %s: %d updates stored, usage up %d down %d for %d s; want %d answered, up %d down %d for %d s",
				n.session, len(seen), up, down, dur, last, 1000*last, 3000*last, 60*last)
		}
	}
	for _, table := range []string{"usage_hourly", "usage_daily"} {
		var records, up uint64
		if err := conn.QueryRow(ctx, "SELECT toUInt64(sum(records)), sum(bytes_up) FROM "+table).Scan(&records, &up); err != nil {
			t.Fatal(err)
		}
		if records != want || up != 1000*want {
			t.Errorf("%s: %d records, %d bytes up; want %d, %d", table, records, up, want, 1000*want)
		}
	}
}
