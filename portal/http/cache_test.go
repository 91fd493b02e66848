package http_test

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/metering"
	mpg "github.com/simcore/simcore/metering/postgres"
	"github.com/simcore/simcore/metering/usagecache"
	"github.com/simcore/simcore/portal"
	phttp "github.com/simcore/simcore/portal/http"
	ppg "github.com/simcore/simcore/portal/postgres"
)

// withCaches serves the API as `simcore portal` does: sessions, SIM
// ownership and usage answers cached, kept in step by the followers of
// PostgreSQL notifications.
func withCaches() envOption { return func(c *envConfig) { c.caches = true } }

// caches reports what the followers forgot, so a test waits for the
// notification of a change rather than for time to pass. Each forget is
// numbered before it happens: one numbered above a mark taken after a
// change committed happened after the change.
type caches struct {
	seq    atomic.Int64
	users  chan forgot
	iccids chan forgot
	usage  *usagecache.Cache
}

type forgot struct {
	n    int64
	what string // user id or ICCID
}

type observedUsers struct {
	*portal.CachedStore
	c    *caches
	live chan bool
}

func (o observedUsers) ForgetUser(id int64) {
	n := o.c.seq.Add(1)
	o.CachedStore.ForgetUser(id)
	select {
	case o.c.users <- forgot{n, strconv.FormatInt(id, 10)}:
	default:
	}
}

func (o observedUsers) SetLive(live bool) { o.CachedStore.SetLive(live); o.live <- live }

type observedUsage struct {
	*usagecache.Cache
	c    *caches
	live chan bool
}

func (o observedUsage) Forget(iccids []string) {
	n := o.c.seq.Add(1)
	o.Cache.Forget(iccids)
	for _, i := range iccids {
		select {
		case o.c.iccids <- forgot{n, i}:
		default:
		}
	}
}

func (o observedUsage) SetLive(live bool) { o.Cache.SetLive(live); o.live <- live }

// startCaches puts the caches in front of the account store and usage,
// starts their followers and waits until both listen.
func startCaches(t testing.TB, ctx context.Context, pool *pgxpool.Pool, reg prometheus.Registerer, ac *portal.Config, usage phttp.UsageReader) (*caches, phttp.UsageReader) {
	t.Helper()
	c := &caches{users: make(chan forgot, 1000), iccids: make(chan forgot, 1000)}
	var err error
	if c.usage, err = usagecache.New(usagecache.Config{Reader: usage, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	users := observedUsers{CachedStore: portal.NewCachedStore(ac.Store, portal.CacheConfig{}), c: c, live: make(chan bool, 10)}
	ac.Store = users.CachedStore
	batches := observedUsage{Cache: c.usage, c: c, live: make(chan bool, 10)}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 3)
	log := slog.New(slog.DiscardHandler)
	go func() { done <- ppg.FollowUsers(fctx, pool, users, log) }()
	go func() { done <- mpg.FollowBatches(fctx, pool, batches, log) }()
	go func() { done <- c.usage.Run(fctx) }()
	t.Cleanup(func() {
		stop()
		for range 3 {
			if err := <-done; err != nil {
				t.Errorf("follower: %v", err)
			}
		}
	})
	for _, live := range []chan bool{users.live, batches.live} {
		select {
		case <-live:
		case <-ctx.Done():
			t.Fatal("cache followers never listened")
		}
	}
	return c, c.usage
}

// storeBatch stores recs as the ingest writer does: a ledger batch naming
// their ICCIDs, the rows, then the commit that announces the batch; it
// returns once the usage cache has forgotten their ICCIDs since.
func (e *env) storeBatch(recs []metering.Record) {
	e.t.Helper()
	lease, err := mpg.NewLedger(e.pool).Acquire(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer lease.Release(context.Background())
	var iccids []string
	for _, r := range recs {
		iccids = append(iccids, r.ICCID)
	}
	seq, err := lease.Begin(e.ctx, "test", []uint32{202611}, iccids, len(recs))
	if err != nil {
		e.t.Fatal(err)
	}
	e.writeUsage(recs)
	// Rows land before the commit; a forget after this mark is after them.
	mark := e.mark()
	if err := lease.Commit(e.ctx, seq); err != nil {
		e.t.Fatal(err)
	}
	for _, i := range iccids {
		e.await(e.caches.iccids, i, mark)
	}
}

// mark numbers the forgets so far: take it once a change has committed.
func (e *env) mark() int64 { return e.caches.seq.Load() }

// await waits until ch reports what forgotten after mark.
func (e *env) await(ch chan forgot, what string, mark int64) {
	e.t.Helper()
	for {
		select {
		case f := <-ch:
			if f.what == what && f.n > mark {
				return
			}
		case <-e.ctx.Done():
			e.t.Fatalf("%s never forgotten after the change", what)
		}
	}
}

var markers atomic.Int64

// settleUsers returns a mark once every user notification sent so far has
// been handled: it sends one of its own (a negative id, which names no
// user) and waits for it, as notifications arrive in commit order.
func (e *env) settleUsers() int64 {
	e.t.Helper()
	m := e.mark()
	id := strconv.FormatInt(-markers.Add(1), 10)
	if _, err := e.pool.Exec(e.ctx, "SELECT pg_notify($1, $2)", ppg.UserChannel, id); err != nil {
		e.t.Fatal(err)
	}
	e.await(e.caches.users, id, m)
	return e.mark()
}

// TestCachedUsage: a record stored in a committed batch is in the next
// answer once the batch's notification is processed, cached answers or not.
func TestCachedUsage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withCaches())
	c := e.user()
	l := e.line()
	c.addCard(l.iccid)
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
	path := "/v1/sims/" + l.iccid + "/usage?from=" + day.Format(time.DateOnly) + "&to=" + day.AddDate(0, 0, 2).Format(time.DateOnly)
	for _, by := range []string{"", "&by=day"} {
		for i := range 3 {
			e.storeBatch([]metering.Record{{Type: metering.TypeData, ICCID: l.iccid, StartTime: day.Add(time.Duration(i) * 5 * time.Hour),
				BytesUp: 100, NodeID: "n", RecordID: by + strconv.Itoa(i), APN: "internet"}})
			for range 2 { // the second is answered from memory
				var u metering.Usage
				c.must(http.StatusOK, "GET", path+by, nil).decode(t, &u)
				if want := uint64(100 * (i + 1)); by == "" && u.Data.BytesUp != want {
					t.Fatalf("after batch %d: %d bytes up, want %d", i+1, u.Data.BytesUp, want)
				}
			}
		}
	}
	if hits := counterValue(t, e.reg, "simcore_usage_cache_lookups_total", "outcome", "hit"); hits < 6 {
		t.Fatalf("%v cache hits, want at least 6: the cache was not used", hits)
	}

	// Once the background refresh has recomputed the forgotten answers
	// (one ClickHouse query per range), they are hits with the new record.
	// Ask both ranges once more first: the batches above queued refreshes
	// of the range the second loop did not ask, and one still running
	// would count below. After these answers are cached, a queued or
	// running refresh of them finds them done and counts nothing.
	c.must(http.StatusOK, "GET", path, nil)
	c.must(http.StatusOK, "GET", path+"&by=day", nil)
	refreshed := func() float64 { return counterValue(t, e.reg, "simcore_usage_cache_refreshed_total", "", "") }
	before := refreshed()
	e.storeBatch([]metering.Record{{Type: metering.TypeData, ICCID: l.iccid, StartTime: day.Add(20 * time.Hour),
		BytesUp: 100, NodeID: "n", RecordID: "late", APN: "internet"}})
	for refreshed() < before+2 { // both ranges asked above
		if e.ctx.Err() != nil {
			t.Fatal("the forgotten answers were never refreshed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	hits := counterValue(t, e.reg, "simcore_usage_cache_lookups_total", "outcome", "hit")
	var u metering.Usage
	c.must(http.StatusOK, "GET", path, nil).decode(t, &u)
	if u.Data.BytesUp != 700 { // the 6 records above and this one
		t.Fatalf("refreshed answer: %d bytes up, want 700", u.Data.BytesUp)
	}
	if now := counterValue(t, e.reg, "simcore_usage_cache_lookups_total", "outcome", "hit"); now != hits+1 {
		t.Fatalf("the refreshed answer was not a hit (%v hits before, %v after)", hits, now)
	}
}

// counterValue is the value of the counter name{label="value"} in g
// (label "": the counter name has no labels).
func counterValue(t *testing.T, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == name && label == "" {
				return m.GetCounter().GetValue()
			}
			for _, l := range m.GetLabel() {
				if mf.GetName() == name && l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

// TestCachedRevocation: logout and removing a SIM take effect at once in
// the process that does them; a logout by another process (here the store
// alone) once its notification arrives.
func TestCachedRevocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withCaches())
	c := e.user()
	for range 2 {
		c.must(http.StatusOK, "GET", "/v1/me", nil)
	}
	c.must(http.StatusNoContent, "POST", "/v1/auth/logout", nil)
	c.must(http.StatusUnauthorized, "GET", "/v1/me", nil)

	c.login()
	l := e.line()
	c.addCard(l.iccid)
	for range 2 {
		c.must(http.StatusOK, "GET", "/v1/sims/"+l.iccid+"/usage", nil)
	}
	c.must(http.StatusNoContent, "DELETE", "/v1/sims/"+l.iccid, nil)
	if p := c.must(http.StatusNotFound, "GET", "/v1/sims/"+l.iccid+"/usage", nil).problem(t); p.Code != "sim_not_found" {
		t.Fatalf("usage of a removed SIM: %+v", p)
	}

	// Another portal process logs the session out.
	mark := e.settleUsers()
	if err := ppg.New(e.pool).DeleteSession(e.ctx, portal.HashToken(c.token)); err != nil {
		t.Fatal(err)
	}
	e.await(e.caches.users, strconv.FormatInt(c.user.ID, 10), mark)
	if p := c.must(http.StatusUnauthorized, "GET", "/v1/me", nil).problem(t); !strings.Contains(p.Code, "unauthenticated") {
		t.Fatalf("after another process's logout: %+v", p)
	}
}
