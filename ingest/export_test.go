package ingest

// SetAfterClaim makes s call f between taking a file and ingesting it, for
// tests that change the spool at that moment.
func SetAfterClaim(s *Spool, f func(name string)) { s.afterClaim = f }

// SetFlock makes s lock files with f instead of syscall.Flock.
func SetFlock(s *Spool, f func(fd, how int) error) { s.flock = f }
