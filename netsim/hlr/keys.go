package hlr

import (
	"crypto/sha256"
	"time"
)

// keyStore remembers the outcome of each idempotency key, first in first out:
// a key is forgotten KeyTTL after its first use, or sooner when MaxKeys
// newer keys have come since. Its caller holds the server's lock.
type keyStore struct {
	max   int
	ttl   time.Duration
	m     map[string]*keyEntry
	queue []*keyEntry // by first use, oldest at head
	head  int
}

type keyEntry struct {
	key  string
	fp   [sha256.Size]byte // the request the key was first used with
	at   time.Time
	resp response
}

func newKeyStore(max int, ttl time.Duration) *keyStore {
	return &keyStore{max: max, ttl: ttl, m: make(map[string]*keyEntry)}
}

// get returns the live entry for key, if any.
func (k *keyStore) get(key string, now time.Time) (*keyEntry, bool) {
	e, ok := k.m[key]
	if !ok || now.Sub(e.at) >= k.ttl {
		return nil, false
	}
	return e, true
}

// put records key's first outcome and forgets what is due.
func (k *keyStore) put(key string, fp [sha256.Size]byte, resp response, now time.Time) {
	e := &keyEntry{key: key, fp: fp, at: now, resp: resp}
	k.m[key] = e
	k.queue = append(k.queue, e)
	k.expire(now)
}

func (k *keyStore) expire(now time.Time) {
	for k.head < len(k.queue) {
		e := k.queue[k.head]
		if len(k.queue)-k.head <= k.max && now.Sub(e.at) < k.ttl {
			break
		}
		if k.m[e.key] == e {
			delete(k.m, e.key)
		}
		k.queue[k.head] = nil
		k.head++
	}
	// Reclaim the consumed front once it is the larger part.
	if k.head > 1024 && k.head*2 > len(k.queue) {
		n := copy(k.queue, k.queue[k.head:])
		clear(k.queue[n:])
		k.queue = k.queue[:n]
		k.head = 0
	}
}

func (k *keyStore) len() int { return len(k.queue) - k.head }
