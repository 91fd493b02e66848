package provisioning

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// memStore is a Store in memory for the service's tests: one subscription
// per id, requests run in the order given (no waiting on earlier ones). The
// PostgreSQL store is tested against the real server in provisioning/postgres.
type memStore struct {
	mu       sync.Mutex
	subs     map[int64]Subscription
	requests map[string]Request
	changes  []Change // as Complete received them
	next     int
}

func newMemStore(subs ...Subscription) *memStore {
	m := &memStore{subs: map[int64]Subscription{}, requests: map[string]Request{}}
	for _, s := range subs {
		m.subs[s.ID] = s
	}
	return m
}

func (m *memStore) CreateRequest(_ context.Context, r *Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.subs[r.SubscriptionID]; !ok {
		return fmt.Errorf("subscription %d: %w", r.SubscriptionID, ErrSubscriptionNotFound)
	}
	m.next++
	r.ID = fmt.Sprintf("00000000-0000-0000-0000-%012d", m.next)
	r.State, r.CreatedAt, r.UpdatedAt = StatePending, time.Now(), time.Now()
	m.requests[r.ID] = *r
	return nil
}

func (m *memStore) Request(_ context.Context, id string) (Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.requests[id]
	if !ok {
		return Request{}, ErrRequestNotFound
	}
	return r, nil
}

func (m *memStore) Subscription(_ context.Context, id int64) (Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subs[id]
	if !ok {
		return Subscription{}, ErrSubscriptionNotFound
	}
	return s, nil
}

func (m *memStore) SIM(context.Context, string) (SIM, error) { return SIM{}, ErrSIMNotFound }

func (m *memStore) StartRequest(_ context.Context, id string, _ time.Time) (Request, Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.requests[id]
	if !ok {
		return Request{}, Subscription{}, ErrRequestNotFound
	}
	if !r.State.Terminal() {
		r.State, r.Attempts = StateInProgress, r.Attempts+1
		m.requests[id] = r
	}
	return r, m.subs[r.SubscriptionID], nil
}

func (m *memStore) RetryLater(_ context.Context, id, why string) error {
	return m.update(id, func(r *Request) { r.State, r.LastError = StatePending, why })
}

func (m *memStore) Fail(_ context.Context, id, why string) error {
	return m.update(id, func(r *Request) { r.State, r.LastError = StateFailed, why })
}

// Complete applies the parts of ch the service's tests use, and creates
// ch.Schedule's requests (filling their IDs) unless the request was done.
func (m *memStore) Complete(_ context.Context, id string, outcome json.RawMessage, ch Change) error {
	return m.update(id, func(r *Request) {
		if r.State == StateDone {
			return
		}
		for i := range ch.Schedule {
			m.next++
			ch.Schedule[i].ID = fmt.Sprintf("00000000-0000-0000-0000-%012d", m.next)
			m.requests[ch.Schedule[i].ID] = ch.Schedule[i]
		}
		r.State, r.Outcome = StateDone, outcome
		m.changes = append(m.changes, ch)
		s := m.subs[r.SubscriptionID]
		if ch.Status != "" {
			s.Status = ch.Status
		}
		if ch.DataBarred != nil {
			s.DataBarred = *ch.DataBarred
		}
		if ch.OutgoingBarred != nil {
			s.OutgoingBarred = *ch.OutgoingBarred
		}
		m.subs[s.ID] = s
	})
}

func (m *memStore) update(id string, f func(*Request)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.requests[id]
	if !ok {
		return ErrRequestNotFound
	}
	f(&r)
	m.requests[id] = r
	return nil
}

// notices are the notices Complete stored, in order.
func (m *memStore) notices() []Notice {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ns []Notice
	for _, ch := range m.changes {
		ns = append(ns, ch.Notices...)
	}
	return ns
}

// The outbox is the PostgreSQL store's (tested there and end to end);
// the service's tests only look at what Complete stored.
func (m *memStore) ClaimNotices(context.Context, int, time.Duration) ([]Notice, error) {
	return nil, nil
}
func (m *memStore) NoticesSent(context.Context, []SentNotice) error                  { return nil }
func (m *memStore) RetryNotice(context.Context, string, string, time.Duration) error { return nil }
func (m *memStore) FailNotice(context.Context, string, string) error                 { return nil }

func (m *memStore) Stale(context.Context, time.Time, int) ([]Request, error) { return nil, nil }
func (m *memStore) RecordMessages(context.Context, string, []string) error   { return nil }
func (m *memStore) RecordReceipt(context.Context, string, string, time.Time) (bool, error) {
	return false, nil
}

// memQueue records what the service queues.
type memQueue struct {
	mu       sync.Mutex
	requests []Request
	notices  []Notice
}

func (q *memQueue) EnqueueRequest(_ context.Context, r Request) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.requests = append(q.requests, r)
	return nil
}

func (q *memQueue) EnqueueNotice(_ context.Context, n Notice) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.notices = append(q.notices, n)
	return nil
}

// barringCall is one SetBarring the gateway received.
type barringCall struct {
	Key, MSISDN string
	Barring     Barring
}

// fakeGateway records barrings; err, when set, is every call's answer.
// Other changes are not used by these tests.
type fakeGateway struct {
	Gateway // nil: any other method panics
	mu      sync.Mutex
	calls   []barringCall
	err     error
}

func (g *fakeGateway) SetBarring(_ context.Context, key, msisdn string, b Barring) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.err
	}
	g.calls = append(g.calls, barringCall{key, msisdn, b})
	return nil
}
