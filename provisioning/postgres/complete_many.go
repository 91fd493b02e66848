package postgres

import (
	"context"
	"errors"
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
// completeBatch queues them. A lone completion is a group of one, so that
// the next group gathers while the runner is busy with it (handed back to
// its caller instead, nearly every completion ran alone in the benchmark,
// for no gain). A
// group waits at most groupLockTimeout for a lock. Every completion of a
// group that failed as a whole (a statement failed, a lock was not had in
// time, PostgreSQL broke a deadlock) is handed back to its caller, which
// runs completeBatch under its own context as before the groups: one
// line's held lock or bad change never holds up or fails the others. In the
// provisioning benchmark, interleaved runs gave 1,180-1,318 requests/s
// against 1,146-1,206 completing one by one, with 11% less of the Go
// process's CPU per request (BENCHMARKS.md, session 14).
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
	// groupLockTimeout is how long a group waits for any one lock before
	// it gives up and its completions run on their own. A line's lock is
	// normally held for milliseconds (a start, another completion).
	groupLockTimeout = "1s"
)

// errAlone hands a completion back to its caller, to run on its own.
var errAlone = errors.New("complete on its own")

// completer queues completions for the groups; the zero value is ready.
type completer struct {
	mu      sync.Mutex
	queue   []*completion
	running int
	applied atomic.Int64 // groups of several applied as one, for tests
	// paused, when not nil, holds the runners before they take a group
	// until it is closed: tests queue completions for one group with it.
	paused chan struct{}
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
// outcome, starting a runner when fewer than completeRunners run. If ctx
// ends first it returns, and the completion may still be applied, reading
// out and ch: the caller must not change them.
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
		if err == errAlone {
			return s.completeBatch(ctx, c.id, out, ch)
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runCompletions runs groups until the queue is empty.
func (s *Store) runCompletions() {
	for {
		s.comp.mu.Lock()
		paused := s.comp.paused
		s.comp.mu.Unlock()
		if paused != nil {
			<-paused
		}
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

// completeGroup applies group's completions as one implicit transaction
// and tells each its outcome, or, if that failed, hands each back to its
// caller.
func (s *Store) completeGroup(ctx context.Context, group []*completion) {
	errs, err := s.tryMany(ctx, group)
	if err == nil {
		if len(group) > 1 {
			s.comp.applied.Add(1)
		}
		for i, c := range group {
			c.err <- errs[i]
		}
		return
	}
	// Applied wholly or not at all; if the connection was lost after the
	// commit, each caller's own run finds its request done.
	for _, c := range group {
		c.err <- errAlone
	}
}

// tryMany is completeMany with a panic turned into its error: the runner's
// goroutine is not a handler's, whose panics the worker recovers.
func (s *Store) tryMany(ctx context.Context, group []*completion) (errs []error, err error) {
	defer func() {
		if r := recover(); r != nil {
			errs, err = nil, fmt.Errorf("complete group: panic: %v", r)
		}
	}()
	return s.completeMany(ctx, group)
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
		ORDER BY provisioning_requests.id FOR NO KEY UPDATE`
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
	b.Queue(`SELECT set_config('lock_timeout', $1, true)`, groupLockTimeout) // for this transaction only
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
			return fmt.Errorf("set lock timeout: %w", err)
		}
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
