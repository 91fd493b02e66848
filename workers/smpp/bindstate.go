package smpp

import "sync"

// bindState tells WaitBound when a session comes or goes, and why the last
// bind of each kind failed.
type bindState struct {
	mu      sync.Mutex
	changed chan struct{} // closed at the next change; made on demand
	errs    map[string]error
}

func (b *bindState) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.changed
}

func (b *bindState) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
}

func (b *bindState) setErr(kind string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.errs == nil {
		b.errs = map[string]error{}
	}
	b.errs[kind] = err
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
}

func (b *bindState) lastErr(kind string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.errs[kind]
}
