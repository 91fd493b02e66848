// Package usagecache answers repeated usage queries from memory. A
// subscriber's app polls the same few ranges of the same SIM, and usage
// changes only when a batch of that SIM's records is stored, so an answer
// stays right until the ledger announces a batch with its ICCID: then
// every answer for that ICCID is forgotten.
//
// The cache is correct only while something forgets on its behalf
// (metering/postgres.FollowBatches) and keeps it live; see docs/portal.md,
// "Caches", for the bound on staleness. It imports the metering domain and
// Prometheus, never an adapter.
package usagecache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simcore/simcore/metering"
)

// Reader answers usage queries (metering/clickhouse.Reader).
type Reader interface {
	Usage(ctx context.Context, q metering.UsageQuery) (metering.Usage, error)
	Sessions(ctx context.Context, q metering.SessionQuery) (metering.SessionPage, error)
}

// DefaultMaxEntries bounds the answers kept when Config.MaxEntries is
// zero: about 100 MB at a month's daily series each, far less for totals.
const DefaultMaxEntries = 200_000

// Config configures a Cache.
type Config struct {
	Reader Reader
	// MaxEntries bounds the answers kept; default DefaultMaxEntries.
	MaxEntries int
	// Registry receives the cache's metrics; nil registers nothing.
	Registry prometheus.Registerer
}

const shards = 64

// Cache is a Reader that answers Usage from memory when it can; Sessions
// pages always go to the Reader. Answers share their Series slice:
// callers must not modify it. Run, if its owner runs it, recomputes
// forgotten answers in the background.
type Cache struct {
	r        Reader
	perShard int
	live     atomic.Bool
	seed     maphash.Seed
	shards   [shards]shard
	lookups  *prometheus.CounterVec

	hits, misses, bypasses   prometheus.Counter
	refreshed, refreshErrors prometheus.Counter

	// Answers forgotten, to recompute (refresh.go).
	rmu        sync.Mutex
	refreshing bool // Run is running
	pending    map[queryKey][]string
	waiting    int
	wake       chan struct{}
}

type shard struct {
	mu    sync.Mutex
	epoch uint64 // bumped by ForgetAll
	sims  map[string]*simEntry
	// answers is the cost of the answers kept (see cost): their number,
	// with a long series counting as several.
	answers int
}

// bucketsPerAnswer is the series an answer may hold at the cost of one: a
// month's daily series. A longer one (an hourly series of up to 93 days has
// 2,232 buckets) costs one more per bucketsPerAnswer buckets, so the cache
// is bounded in bytes, not only in answers: counted as one each, hourly
// answers of one SIM polled with a moving "to" grew a shard to hundreds of
// megabytes.
const bucketsPerAnswer = 32

// cost is what u counts against MaxEntries.
func cost(u metering.Usage) int { return 1 + len(u.Series)/bucketsPerAnswer }

// simEntry holds one ICCID's answers. gen is bumped when they are
// forgotten, so a query that began before cannot store a stale answer.
type simEntry struct {
	gen     uint64
	answers map[queryKey]metering.Usage
	cost    int // of answers
}

type queryKey struct {
	from, to int64 // Unix nanoseconds
	by       metering.Granularity
}

// New returns a cache in front of cfg.Reader; it answers from memory only
// after SetLive(true).
func New(cfg Config) (*Cache, error) {
	if cfg.Reader == nil {
		return nil, errors.New("usage cache: no reader")
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	c := &Cache{r: cfg.Reader, perShard: max(1, cfg.MaxEntries/shards), seed: maphash.MakeSeed(),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_usage_cache_lookups_total",
			Help: "Usage queries asked of the usage cache, by outcome: hit, miss, or bypass (not live).",
		}, []string{"outcome"}),
	}
	c.hits, c.misses, c.bypasses = c.lookups.WithLabelValues("hit"), c.lookups.WithLabelValues("miss"), c.lookups.WithLabelValues("bypass")
	c.refreshed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "simcore_usage_cache_refreshed_total",
		Help: "Usage answers recomputed in the background after a stored batch made the cache forget them.",
	})
	c.refreshErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "simcore_usage_cache_refresh_errors_total",
		Help: "Background recomputations of usage answers that failed (the answers are left to requests).",
	})
	c.pending, c.wake = map[queryKey][]string{}, make(chan struct{}, 1)
	for i := range c.shards {
		c.shards[i].sims = map[string]*simEntry{}
	}
	if cfg.Registry != nil {
		for _, m := range []prometheus.Collector{c.lookups, c.refreshed, c.refreshErrors} {
			if err := cfg.Registry.Register(m); err != nil {
				return nil, fmt.Errorf("register usage cache metrics: %w", err)
			}
		}
	}
	return c, nil
}

func (c *Cache) shard(iccid string) *shard {
	return &c.shards[maphash.String(c.seed, iccid)%shards]
}

// SetLive turns answering from memory on or off; off forgets everything.
func (c *Cache) SetLive(live bool) {
	c.live.Store(live)
	if !live {
		c.ForgetAll()
	}
}

// ForgetAll drops every answer.
func (c *Cache) ForgetAll() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.epoch++
		clear(s.sims)
		s.answers = 0
		s.mu.Unlock()
	}
}

// Forget drops the answers for iccids; while Run runs, they are then
// recomputed in the background.
func (c *Cache) Forget(iccids []string) {
	var keys []queryKey
	for _, iccid := range iccids {
		keys = keys[:0]
		s := c.shard(iccid)
		s.mu.Lock()
		if e := s.sims[iccid]; e != nil {
			e.gen++
			s.answers -= e.cost
			e.cost = 0
			for k := range e.answers {
				keys = append(keys, k)
			}
			clear(e.answers)
		}
		s.mu.Unlock()
		if len(keys) > 0 {
			c.queueRefresh(iccid, keys)
		}
	}
}

// Usage answers q from memory, or asks the Reader and keeps its answer.
// Errors are the Reader's, and are not kept.
func (c *Cache) Usage(ctx context.Context, q metering.UsageQuery) (metering.Usage, error) {
	if !c.live.Load() {
		c.bypasses.Inc()
		return c.r.Usage(ctx, q)
	}
	k := queryKey{from: q.From.UnixNano(), to: q.To.UnixNano(), by: q.By}
	s := c.shard(q.ICCID)
	s.mu.Lock()
	e := s.sims[q.ICCID]
	if e != nil {
		if u, ok := e.answers[k]; ok {
			s.mu.Unlock()
			c.hits.Inc()
			return u, nil
		}
	} else {
		c.makeRoom(s, nil, 0)
		e = &simEntry{answers: map[queryKey]metering.Usage{}}
		s.sims[q.ICCID] = e
	}
	gen, epoch := e.gen, s.epoch
	s.mu.Unlock()
	c.misses.Inc()

	u, err := c.r.Usage(ctx, q)
	if err != nil {
		return u, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.live.Load() && s.epoch == epoch && s.sims[q.ICCID] == e && e.gen == gen {
		if old, dup := e.answers[k]; dup {
			s.answers -= cost(old)
			e.cost -= cost(old)
		} else if !c.makeRoom(s, e, cost(u)) || s.sims[q.ICCID] != e {
			return u, nil // too big to keep, or evicted to make room
		}
		s.answers += cost(u)
		e.cost += cost(u)
		e.answers[k] = u
	}
	return u, nil
}

// makeRoom evicts arbitrary ICCIDs (map order is random) until the shard
// has room for an answer costing need and one more ICCID; s.mu is held.
// keep, the entry about to take an answer (nil when a new ICCID is about
// to be added), is neither counted nor evicted: evicting it made a shard of
// one slot keep nothing. If the other ICCIDs' answers are not enough, keep's
// own are dropped. It reports false if the answer cannot fit at all.
func (c *Cache) makeRoom(s *shard, keep *simEntry, need int) bool {
	if need > c.perShard {
		return false
	}
	others := func() int {
		if keep != nil {
			return len(s.sims) - 1
		}
		return len(s.sims)
	}
	fits := func() bool { return s.answers+max(need, 1) <= c.perShard && others() < c.perShard }
	for iccid, e := range s.sims {
		if fits() {
			return true
		}
		if e == keep {
			continue
		}
		s.answers -= e.cost
		e.gen++ // a query in flight for it must not store into the evicted entry
		delete(s.sims, iccid)
	}
	if !fits() && keep != nil {
		// One ICCID holds the shard: drop its answers (a query in flight
		// for one of them may still store it, which is as fresh).
		s.answers -= keep.cost
		keep.cost = 0
		clear(keep.answers)
	}
	return fits()
}

// Sessions asks the Reader: session pages are read once, not polled.
func (c *Cache) Sessions(ctx context.Context, q metering.SessionQuery) (metering.SessionPage, error) {
	return c.r.Sessions(ctx, q)
}
