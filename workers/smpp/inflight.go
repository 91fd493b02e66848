package smpp

import "sync"

// inflight numbers the submits outstanding, so that a receipt whose id is
// not yet known can wait for exactly the submits sent before it arrived:
// the receipt comes on the receiver connection and may be read before the
// transmitter's reader has taken the answer carrying its id.
type inflight struct {
	mu   sync.Mutex
	next uint64
	set  map[uint64]struct{}
	wake chan struct{} // closed at the next done; made on demand
}

func newInflight() *inflight { return &inflight{set: make(map[uint64]struct{})} }

// add registers a submit and returns its number.
func (f *inflight) add() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.set[f.next] = struct{}{}
	return f.next
}

// done unregisters submit n and wakes the waiters.
func (f *inflight) done(n uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.set, n)
	if f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
}

// mark is the number of the last submit registered.
func (f *inflight) mark() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next
}

// before reports whether a submit numbered up to mark is outstanding, and
// if so returns a channel closed when the next submit completes.
func (f *inflight) before(mark uint64) (<-chan struct{}, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n := range f.set { // at most Window entries
		if n <= mark {
			if f.wake == nil {
				f.wake = make(chan struct{})
			}
			return f.wake, true
		}
	}
	return nil, false
}
