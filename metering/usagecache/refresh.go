package usagecache

import (
	"context"
	"slices"
	"time"

	"github.com/simcore/simcore/metering"
)

// ManyReader answers one range for many ICCIDs in one query
// (metering/clickhouse.Reader).
type ManyReader interface {
	UsageMany(ctx context.Context, q metering.UsageQuery, iccids []string) (map[string]metering.Usage, error)
}

// Refresh limits: ICCIDs per query, and answers waiting (more are only
// forgotten: a request recomputes them).
const (
	refreshChunk   = 500
	maxRefreshWait = 100_000
)

// queueRefresh notes that the answers of iccid under keys were forgotten
// and should be recomputed. Only with a ManyReader and while Run runs.
func (c *Cache) queueRefresh(iccid string, keys []queryKey) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if !c.refreshing {
		return
	}
	for _, k := range keys {
		if c.waiting >= maxRefreshWait {
			return
		}
		c.pending[k] = append(c.pending[k], iccid)
		c.waiting++
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run recomputes, in the background, the answers that batches made the
// cache forget: one query per range for all the ICCIDs forgotten under it
// (Reader must be a ManyReader, else Run only waits for ctx). Until an
// answer is recomputed a request for it asks the Reader as any miss does;
// a recomputed answer is kept only if nothing forgot its ICCID meanwhile,
// so it is as fresh as a miss's. Run returns nil when ctx ends.
func (c *Cache) Run(ctx context.Context) error {
	many, ok := c.r.(ManyReader)
	if !ok {
		<-ctx.Done()
		return nil
	}
	c.rmu.Lock()
	c.refreshing = true
	c.rmu.Unlock()
	defer func() {
		c.rmu.Lock()
		c.refreshing = false
		clear(c.pending)
		c.waiting = 0
		c.rmu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		}
		c.rmu.Lock()
		work := c.pending
		c.pending = map[queryKey][]string{}
		c.waiting = 0
		c.rmu.Unlock()
		for k, iccids := range work {
			slices.Sort(iccids)
			iccids = slices.Compact(iccids)
			for chunk := range slices.Chunk(iccids, refreshChunk) {
				if ctx.Err() != nil {
					return nil
				}
				c.refresh(ctx, many, k, chunk)
			}
		}
	}
}

// target is an entry to refresh, as it was when its query began.
type target struct {
	e          *simEntry
	gen, epoch uint64
}

// refresh recomputes k's answers for iccids that are still cached
// without it.
func (c *Cache) refresh(ctx context.Context, many ManyReader, k queryKey, iccids []string) {
	if !c.live.Load() {
		return
	}
	targets := make(map[string]target, len(iccids))
	ask := iccids[:0:0]
	for _, iccid := range iccids {
		s := c.shard(iccid)
		s.mu.Lock()
		if e := s.sims[iccid]; e != nil {
			if _, done := e.answers[k]; !done { // a request may have asked meanwhile
				targets[iccid] = target{e: e, gen: e.gen, epoch: s.epoch}
				ask = append(ask, iccid)
			}
		}
		s.mu.Unlock()
	}
	if len(ask) == 0 {
		return
	}
	q := metering.UsageQuery{From: time.Unix(0, k.from).UTC(), To: time.Unix(0, k.to).UTC(), By: k.by}
	answers, err := many.UsageMany(ctx, q, ask)
	if err != nil {
		c.refreshErrors.Inc() // the requests will ask themselves
		return
	}
	for _, iccid := range ask {
		u, ok := answers[iccid]
		if !ok {
			continue
		}
		tg := targets[iccid]
		s := c.shard(iccid)
		s.mu.Lock()
		if c.live.Load() && s.epoch == tg.epoch && s.sims[iccid] == tg.e && tg.e.gen == tg.gen {
			if _, dup := tg.e.answers[k]; !dup && s.answers+cost(u) <= c.perShard {
				s.answers += cost(u)
				tg.e.cost += cost(u)
				tg.e.answers[k] = u
				c.refreshed.Inc()
			}
		}
		s.mu.Unlock()
	}
}
