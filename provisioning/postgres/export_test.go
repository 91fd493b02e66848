package postgres

import "time"

// QueuedCompletions is how many completions wait for a group
// (complete_many.go).
func QueuedCompletions(s *Store) int {
	s.comp.mu.Lock()
	defer s.comp.mu.Unlock()
	return len(s.comp.queue)
}

// GroupsApplied is how many groups of several completions were applied
// as one.
func GroupsApplied(s *Store) int64 { return s.comp.applied.Load() }

// PauseGroups holds the completion runners before they take their next
// group until resume is called, so that completions queue for one group.
func PauseGroups(s *Store) (resume func()) {
	ch := make(chan struct{})
	for {
		// Once no runner is left from earlier completions, so that every
		// runner started from now on waits.
		s.comp.mu.Lock()
		if s.comp.running == 0 {
			s.comp.paused = ch
			s.comp.mu.Unlock()
			break
		}
		s.comp.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	return func() {
		s.comp.mu.Lock()
		s.comp.paused = nil
		s.comp.mu.Unlock()
		close(ch)
	}
}
