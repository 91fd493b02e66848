package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/simcore/simcore/provisioning"
)

// Completions that need no transaction of their own (no SIM swap, no
// scheduled requests) are gathered and run together: while one group is
// in PostgreSQL, the completions that arrive meanwhile queue, and the next
// group takes them all. One group is one round trip and one commit: its
// subscriptions and requests locked by two statements (in id order, so
// groups cannot deadlock each other), then each request's statements as
// completeBatch queues them. A lone completion runs as completeBatch, so
// an idle worker waits for nothing. If a group fails as a whole (one of
// its statements failed, or PostgreSQL broke a deadlock), each of its
// completions runs again on its own, and each gets its own outcome. In the
// provisioning benchmark, interleaved runs gave 1,300-1,389 requests/s
// against 1,202-1,241 completing one by one (BENCHMARKS.md, session 14).
// The group's notices and marks as two statements for the whole group were
// no faster, so each request keeps its own.
const (
	// maxCompleteGroup bounds one group's statements (about five per
	// completion) and the time its locks are held.
	maxCompleteGroup = 64
	// completeRunners is how many groups may be in PostgreSQL at once.
	completeRunners = 2
	// completeTimeout bounds a group; a caller stops waiting when its own
	// context ends, and its completion may still be applied.
	completeTimeout = 30 * time.Second
)

// completer queues completions for the groups; the zero value is ready.
type completer struct {
	mu      sync.Mutex
	queue   []*completion
	running int
	applied atomic.Int64 // groups of several applied as one, for tests
}

type completion struct {
	id  string
	out any
	ch  provisioning.Change
	err chan error // buffered: the runner never waits for its reader
}

// grouped reports whether Complete may run ch in a group.
func grouped(ch provisioning.Change) bool {
	return ch.SwapTo == nil && len(ch.Schedule) == 0
}

// completeGrouped queues the completion of request id and waits for its
// outcome, starting a runner when fewer than completeRunners run.
func (s *Store) completeGrouped(ctx context.Context, id string, out any, ch provisioning.Change) error {
	// One spelling per request: the group's dedupe and the states read
	// back (id::text) compare ids as strings.
	c := &completion{id: strings.ToLower(id), out: out, ch: ch, err: make(chan error, 1)}
	s.comp.mu.Lock()
	s.comp.queue = append(s.comp.queue, c)
	start := s.comp.running < completeRunners
	if start {
		s.comp.running++
	}
	s.comp.mu.Unlock()
	if start {
		go s.runCompletions()
	}
	select {
	case err := <-c.err:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runCompletions runs groups until the queue is empty.
func (s *Store) runCompletions() {
	for {
		group := s.takeGroup()
		if len(group) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), completeTimeout)
		s.completeGroup(ctx, group)
		cancel()
	}
}

// takeGroup takes up to maxCompleteGroup queued completions, oldest first,
// at most one per request: a repeat waits for a later group, where it
// finds the request done (or, run by the other runner first, completes it
// and leaves the first to find it done), as two completions of one request
// always have. With none left it counts the runner out.
func (s *Store) takeGroup() []*completion {
	s.comp.mu.Lock()
	defer s.comp.mu.Unlock()
	var (
		group []*completion
		rest  = s.comp.queue[:0]
		ids   = make(map[string]bool, min(len(s.comp.queue), maxCompleteGroup))
	)
	for _, c := range s.comp.queue {
		if len(group) == maxCompleteGroup || ids[c.id] {
			rest = append(rest, c)
			continue
		}
		ids[c.id] = true
		group = append(group, c)
	}
	clear(s.comp.queue[len(rest):])
	s.comp.queue = rest
	if len(group) == 0 {
		s.comp.running--
	}
	return group
}

// completeGroup applies group's completions, as one implicit transaction
// when there are several, and tells each its outcome.
func (s *Store) completeGroup(ctx context.Context, group []*completion) {
	if len(group) > 1 {
		errs, err := s.completeMany(ctx, group)
		if err == nil {
			s.comp.applied.Add(1)
			for i, c := range group {
				c.err <- errs[i]
			}
			return
		}
		// Nothing of the group was applied: each runs on its own.
	}
	for _, c := range group {
		c.err <- s.completeBatch(ctx, c.id, c.out, c.ch)
	}
}

// Locks of a group, in the package's order: the subscriptions first, then
// the requests, each in id order.
const (
	lockGroupSubscriptions = `
		SELECT id FROM subscriptions
		WHERE id IN (SELECT subscription_id FROM provisioning_requests WHERE id = ANY($1::uuid[]))
		ORDER BY id FOR NO KEY UPDATE`
	lockGroupRequests = `
		SELECT id::text, state FROM provisioning_requests
		WHERE id = ANY($1::uuid[])
		ORDER BY id FOR NO KEY UPDATE`
)

// completeMany applies group's completions in one implicit transaction and
// returns each one's outcome, as completeBatch would give it. An error
// means none was applied.
func (s *Store) completeMany(ctx context.Context, group []*completion) ([]error, error) {
	ids := make([]string, len(group))
	for i, c := range group {
		ids[i] = c.id
	}
	b := &pgx.Batch{}
	b.Queue(lockGroupSubscriptions, ids)
	b.Queue(lockGroupRequests, ids)
	steps := make([][]step, len(group))
	for i, c := range group {
		var err error
		if steps[i], err = queueChange(b, c.id, c.out, c.ch); err != nil {
			return nil, err
		}
	}
	states := make(map[string]provisioning.State, len(group))
	err := s.batch(ctx, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("lock subscriptions: %w", err)
		}
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("lock requests: %w", err)
		}
		for rows.Next() {
			var (
				id    string
				state provisioning.State
			)
			if err := rows.Scan(&id, &state); err != nil {
				rows.Close()
				return fmt.Errorf("lock requests: %w", err)
			}
			states[id] = state
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock requests: %w", err)
		}
		for i := range steps {
			for _, step := range steps[i] {
				if err := step(br); err != nil {
					return fmt.Errorf("complete request %s: %w", group[i].id, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(group))
	for i, c := range group {
		state, ok := states[c.id]
		if !ok {
			errs[i] = notFound(c.id)
			continue
		}
		errs[i] = finishedState(state)
	}
	return errs, nil
}
