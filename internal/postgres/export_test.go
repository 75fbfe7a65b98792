package postgres

// ClaimStatements is how many RecordAndClaim statements s has run.
func ClaimStatements(s *Store) int64 {
	_, n := s.ClaimFigures()
	return n
}

// ClaimsQueued is how many RecordAndClaim calls wait for a statement.
func ClaimsQueued(s *Store) int {
	s.claims.mu.Lock()
	defer s.claims.mu.Unlock()
	return len(s.claims.queue)
}
