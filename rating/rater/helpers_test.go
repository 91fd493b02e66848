package rater_test

import (
	"context"
	"fmt"
	"io"
	logslog "log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simcore/simcore/internal/testenv"
	"github.com/simcore/simcore/metering"
	mch "github.com/simcore/simcore/metering/clickhouse"
	mpg "github.com/simcore/simcore/metering/postgres"
	"github.com/simcore/simcore/numbering"
	"github.com/simcore/simcore/rating"
	rch "github.com/simcore/simcore/rating/clickhouse"
	rpg "github.com/simcore/simcore/rating/postgres"
	"github.com/simcore/simcore/rating/rater"
)

// env is a rater on real PostgreSQL and ClickHouse, with usage written by
// metering's real writer, and fakes for provisioning.
type env struct {
	t      testing.TB
	ctx    context.Context
	pool   *pgxpool.Pool
	store  *rpg.Store
	writer *mch.Writer
	conn   driver.Conn
	usage  *rch.Usage
	subs   *fakeSubs
	net    *fakeNet
	rater  *rater.Rater
	acct   *rating.Accounts
	now    time.Time
	mu     sync.Mutex
}

func migrateBoth(ctx context.Context, url string) error {
	if err := mpg.Migrate(ctx, url); err != nil {
		return err
	}
	return rpg.Migrate(ctx, url)
}

func newEnv(t *testing.T, now time.Time) *env { return newEnvTB(t, now) }

func newEnvTB(t testing.TB, now time.Time) *env {
	t.Helper()
	ctx := testenv.Context(t, 3*time.Minute)
	url := testenv.Postgres(t, "rating", mpg.MigrationsVersion()+rpg.MigrationsVersion(), migrateBoth)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	chCfg := mch.Config{Addr: testenv.ClickHouseAddr(t), Database: testenv.UniqueName("t_")}
	if _, err := mch.Migrate(ctx, chCfg); err != nil {
		t.Fatalf("migrate clickhouse: %v", err)
	}
	conn, err := mch.Open(ctx, chCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		_ = mch.DropDatabase(context.Background(), chCfg)
	})
	log := slog()
	e := &env{t: t, ctx: ctx, pool: pool, store: rpg.New(pool), subs: &fakeSubs{m: map[string]rating.Subscriber{}}, now: now}
	// The writer's dedupe window follows the test's clock, not the real
	// one: the records are dated in 2026, and by the real clock they would
	// one day fall out of any window.
	w, err := mch.NewWriter(ctx, mch.WriterConfig{Conn: conn, Ledger: mpg.NewLedger(pool), MaxAge: 90 * 24 * time.Hour, Log: log, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	e.writer, e.conn = w, conn
	e.net = &fakeNet{subs: e.subs}
	e.usage = rch.New(conn)
	e.rater = rater.New(rater.Config{Settle: time.Hour}, e.store, e.subs, e.usage, e.net, log, nil)
	e.rater.SetClock(e.clock)
	e.acct = &rating.Accounts{Store: e.store, Credits: e.store, Subs: e.subs, Now: e.clock}

	f, err := os.Open("../testdata/catalogue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cat, err := rating.ParseCatalogue(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ImportCatalogue(ctx, cat, "test"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) setClock(t time.Time) {
	e.mu.Lock()
	e.now = t
	e.mu.Unlock()
}

var serial struct {
	sync.Mutex
	n int
}

func newICCID() string {
	serial.Lock()
	serial.n++
	n := serial.n
	serial.Unlock()
	p := fmt.Sprintf("89972%013d", n)
	return p + string(numbering.LuhnCheckDigit(p))
}

// subscribe puts iccid on plan from start.
func (e *env) subscribe(iccid, plan string, start time.Time) rating.Subscriber {
	e.subs.mu.Lock()
	defer e.subs.mu.Unlock()
	s := rating.Subscriber{SubscriptionID: int64(len(e.subs.m) + 1), ICCID: iccid, MSISDN: "447700900" + iccid[len(iccid)-3:], Language: "en", Plan: plan, Start: start}
	e.subs.m[iccid] = s
	return s
}

// write stores records through metering's writer (which drops duplicates)
// and rates what changed.
func (e *env) write(recs ...metering.Record) {
	e.t.Helper()
	res, err := e.writer.WriteBatch(e.ctx, &metering.Batch{Records: recs})
	if err != nil {
		e.t.Fatalf("write: %v", err)
	}
	_ = res
	if _, err := e.rater.CatchUp(e.ctx); err != nil {
		e.t.Fatalf("catch up: %v", err)
	}
}

var recSeq struct {
	sync.Mutex
	n int
}

// rec is a record with a fresh identity.
func rec(iccid string, t metering.UsageType, start time.Time, net string, bytes uint64, seconds uint32) metering.Record {
	recSeq.Lock()
	recSeq.n++
	id := recSeq.n
	recSeq.Unlock()
	return metering.Record{Type: t, ICCID: iccid, StartTime: start, NodeID: "test", RecordID: fmt.Sprint(id), MCCMNC: net,
		BytesUp: bytes / 2, BytesDown: bytes - bytes/2, DurationS: seconds}
}

type fakeSubs struct {
	mu sync.Mutex
	m  map[string]rating.Subscriber
}

// Live finds subscriptions by their current or past cards, as
// provisioning does.
func (f *fakeSubs) Live(_ context.Context, iccids []string) ([]rating.Subscriber, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []rating.Subscriber
	for _, s := range f.m {
		for _, c := range s.Cards() {
			if slices.Contains(iccids, c) {
				out = append(out, s)
				break
			}
		}
	}
	return out, nil
}

// Rated is Live: the fake's subscriptions have no status.
func (f *fakeSubs) Rated(ctx context.Context, iccids []string) ([]rating.Subscriber, error) {
	return f.Live(ctx, iccids)
}

// swap moves the subscription on from to the card to.
func (f *fakeSubs) swap(from, to string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.m[from]
	delete(f.m, from)
	s.PastICCIDs = append([]string{s.ICCID}, s.PastICCIDs...)
	s.ICCID = to
	f.m[to] = s
}

func (f *fakeSubs) Barred(context.Context) ([]rating.Subscriber, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []rating.Subscriber
	for _, s := range f.m {
		if s.DataBarred || s.OutgoingBarred {
			out = append(out, s)
		}
	}
	return out, nil
}

type barCall struct {
	ICCID  string
	Bar    bool
	Reason string
	Notice string
}

type noticeCall struct {
	ID, ICCID, Notice string
	Data              map[string]any
}

// fakeNet applies barring at once, as a network that never fails. bars
// are data bars, outBars outgoing ones.
type fakeNet struct {
	subs    *fakeSubs
	mu      sync.Mutex
	bars    []barCall
	outBars []barCall
	notices []noticeCall
	// outErr, when set, fails the next outgoing barring submit (nothing
	// recorded), as a database that is down or a rater stopping would.
	outErr error
}

func (f *fakeNet) SetDataBarring(_ context.Context, s rating.Subscriber, bar bool, reason, notice string) (string, error) {
	return f.setBarring(&f.bars, func(cur *rating.Subscriber) { cur.DataBarred = bar }, s, bar, reason, notice)
}

func (f *fakeNet) SetOutgoingBarring(_ context.Context, s rating.Subscriber, bar bool, reason, notice string) (string, error) {
	f.mu.Lock()
	err := f.outErr
	f.outErr = nil
	f.mu.Unlock()
	if err != nil {
		return "", err
	}
	return f.setBarring(&f.outBars, func(cur *rating.Subscriber) { cur.OutgoingBarred = bar }, s, bar, reason, notice)
}

func (f *fakeNet) setBarring(calls *[]barCall, apply func(*rating.Subscriber), s rating.Subscriber, bar bool, reason, notice string) (string, error) {
	f.mu.Lock()
	*calls = append(*calls, barCall{s.ICCID, bar, reason, notice})
	n := len(f.bars) + len(f.outBars)
	f.mu.Unlock()
	f.subs.mu.Lock()
	for k, cur := range f.subs.m {
		if cur.SubscriptionID == s.SubscriptionID {
			apply(&cur)
			f.subs.m[k] = cur
		}
	}
	f.subs.mu.Unlock()
	return fmt.Sprintf("req-%d", n), nil
}

func (f *fakeNet) Notify(_ context.Context, id string, s rating.Subscriber, notice string, data map[string]any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notices = append(f.notices, noticeCall{id, s.ICCID, notice, data})
	return nil
}

// barsOf are iccid's data bars.
func (f *fakeNet) barsOf(iccid string) []barCall { return f.callsOf(&f.bars, iccid) }

// outBarsOf are iccid's outgoing bars.
func (f *fakeNet) outBarsOf(iccid string) []barCall { return f.callsOf(&f.outBars, iccid) }

func (f *fakeNet) callsOf(calls *[]barCall, iccid string) []barCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []barCall
	for _, b := range *calls {
		if b.ICCID == iccid {
			out = append(out, b)
		}
	}
	return out
}

func (f *fakeNet) noticesOf(iccid string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.notices {
		if n.ICCID == iccid {
			out = append(out, n.Notice)
		}
	}
	slices.Sort(out)
	return out
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func slog() *logslog.Logger {
	if testing.Verbose() {
		return logslog.New(logslog.NewTextHandler(os.Stderr, nil))
	}
	return logslog.New(logslog.NewTextHandler(io.Discard, nil))
}
