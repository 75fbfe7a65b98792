package postgres

import (
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
)

// SessionStore is where the web console keeps its sessions (scs), with a
// way to stop the clean-up of expired ones.
type SessionStore interface {
	scs.CtxStore
	StopCleanup()
}

// Sessions returns the console's session store: scs's own PostgreSQL
// store, pgxstore, on the sessions table (migration 00007), over this
// store's pool, so every process sees every session. It deletes expired
// sessions every cleanup (0: never); stop it with StopCleanup when the
// server shuts down. (pgxstore dates sessions with the database's clock;
// scs sets their expiry from the process's.)
func (s *Store) Sessions(cleanup time.Duration) SessionStore {
	return pgxstore.NewWithCleanupInterval(s.pool, cleanup)
}
