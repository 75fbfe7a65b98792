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

// SetClaimLeaders makes at most n RecordAndClaim statements of s run at
// once.
func SetClaimLeaders(s *Store, n int) { s.claims.max = n }
