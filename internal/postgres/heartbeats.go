package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// Beat records that a River client is alive, on the database's clock.
func (s *Store) Beat(ctx context.Context, clientID, host string, pid int) error {
	return mapError("heartbeat", s.q.HeartbeatBeat(ctx, dbsqlc.HeartbeatBeatParams{ClientID: clientID, Host: host, Pid: int32(pid)}))
}

// Forget removes a client's heartbeat when it stops cleanly, and prunes the
// heartbeats of clients gone for a day.
func (s *Store) Forget(ctx context.Context, clientID string) error {
	if err := s.q.HeartbeatForget(ctx, clientID); err != nil {
		return mapError("forget heartbeat", err)
	}
	return mapError("prune heartbeats", s.q.HeartbeatPrune(ctx))
}

// Orphan is a running River job whose process stopped beating.
type Orphan struct {
	ID          int64
	Attempt     int
	MaxAttempts int
	ClientID    string
}

// LockRescue takes the cluster-wide rescue lock for the transaction, so
// one sweeper at a time looks for orphans; false: another holds it.
func (t *Tx) LockRescue(ctx context.Context) (bool, error) {
	ok, err := t.q.RescueLock(ctx)
	return ok, mapError("rescue lock", err)
}

// Orphans lists (up to limit) running River jobs whose current attempt's
// client has not beaten for stale, started at least that long ago.
func (t *Tx) Orphans(ctx context.Context, stale time.Duration, limit int) ([]Orphan, error) {
	rows, err := t.q.OrphanedJobs(ctx, dbsqlc.OrphanedJobsParams{StaleSeconds: stale.Seconds(), Lim: int32(limit)})
	if err != nil {
		return nil, mapError("orphaned jobs", err)
	}
	out := make([]Orphan, len(rows))
	for i, r := range rows {
		out[i] = Orphan{ID: r.ID, Attempt: int(r.Attempt), MaxAttempts: int(r.MaxAttempts), ClientID: r.ClientID}
	}
	return out, nil
}

// Unavailable reports whether err means the database could not be reached
// or went away (a restart, a failover, a network cut), as opposed to a
// statement it refused. Work that already has outcomes in hand keeps them
// and writes them once the database is back, instead of giving up.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // our own deadline or stop, not the database's absence
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exception; 57P01-57P05: shutdown, crash recovery,
		// "cannot connect now".
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.As(err, &oe) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}
