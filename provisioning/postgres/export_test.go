package postgres

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
