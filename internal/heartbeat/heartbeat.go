// Package heartbeat makes crash recovery fast without ever running a live
// job twice. Every process that runs River workers beats in PostgreSQL
// every Interval, from a goroutine of its own — never from job progress,
// so a slow but alive worker keeps beating. One sweeper at a time (a
// cluster-wide advisory lock) looks for running jobs whose process has not
// beaten for Stale and makes them available again at once, instead of
// after River's RESCUE_AFTER (15 minutes by default).
//
// A wrongly rescued job (its process was only frozen, say by SIGSTOP) is
// harmless: the delivery ledger lets exactly one claim of a delivery win,
// and the retry marks its predecessor's claims unknown instead of sending
// them again; the predecessor's answers, when it comes back, are recorded
// over the unknown (postgres.Tx.RecordOutcomes).
//
// Heartbeats use the database's clock: hosts' clocks drift, and beats are
// compared across hosts. A sweeper only rescues after it has itself beaten
// without a gap for Stale, so after a database outage — when every beat
// failed — live processes have beaten again before anyone judges them.
package heartbeat

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/rapport-dev/rapport/internal/postgres"
)

// Defaults.
const (
	DefaultInterval = 5 * time.Second
	DefaultStale    = 30 * time.Second
)

// Config tunes the beat; the zero value of each field picks its default.
type Config struct {
	Interval time.Duration // between beats and sweeps
	Stale    time.Duration // a client this long without a beat is gone
	Log      *slog.Logger
}

// Beater beats for one River client and sweeps for orphaned jobs.
type Beater struct {
	store  *postgres.Store
	client string
	host   string
	cfg    Config
	// since is when the current unbroken run of beats began (zero: the
	// last beat failed).
	since time.Time
}

// New returns a Beater for the River client with the given id.
func New(store *postgres.Store, clientID string, cfg Config) *Beater {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Stale <= 0 {
		cfg.Stale = DefaultStale
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	return &Beater{store: store, client: clientID, host: host, cfg: cfg}
}

// Beat records the client alive once. Call it before River starts, so the
// client's first jobs are never judged without a beat.
func (b *Beater) Beat(ctx context.Context) error {
	err := b.store.Beat(ctx, b.client, b.host, os.Getpid())
	switch {
	case err != nil:
		b.since = time.Time{}
	case b.since.IsZero():
		b.since = time.Now()
	}
	return err
}

// Run beats and sweeps every Interval until ctx ends.
func (b *Beater) Run(ctx context.Context) {
	t := time.NewTicker(b.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := b.Beat(ctx); err != nil {
			b.cfg.Log.Warn("heartbeat failed", "river_client_id", b.client, "error", err.Error())
			continue
		}
		if time.Since(b.since) < b.cfg.Stale {
			continue // not long enough connected to judge anyone
		}
		if n, err := b.Sweep(ctx); err != nil {
			b.cfg.Log.Warn("orphan sweep failed", "error", err.Error())
		} else if n > 0 {
			b.cfg.Log.Info("rescued the jobs of stopped workers", "jobs", n)
		}
	}
}

// Forget removes the client's heartbeat: it stopped cleanly, with no job
// left running.
func (b *Beater) Forget(ctx context.Context) error { return b.store.Forget(ctx, b.client) }

// sweepBatch is how many orphans one sweep rescues at most.
const sweepBatch = 1000

// Sweep makes the running jobs of clients that stopped beating available
// again at once (discarded when they are out of attempts), and returns how
// many it rescued. Only one process sweeps at a time; the others return 0.
func (b *Beater) Sweep(ctx context.Context) (int, error) {
	var n int
	err := b.store.InTx(ctx, func(tx *postgres.Tx) error {
		ok, err := tx.LockRescue(ctx)
		if err != nil || !ok {
			return err
		}
		orphans, err := tx.Orphans(ctx, b.cfg.Stale, sweepBatch)
		if err != nil || len(orphans) == 0 {
			return err
		}
		now := time.Now().UTC()
		p := &riverdriver.JobRescueManyParams{StuckHorizon: now.Add(time.Minute)}
		for _, o := range orphans {
			msg, _ := json.Marshal(rivertype.AttemptError{At: now, Attempt: o.Attempt,
				Error: "orphaned: worker " + o.ClientID + " stopped beating; rescued by heartbeat"})
			state, finalized := rivertype.JobStateAvailable, (*time.Time)(nil)
			if o.Attempt >= o.MaxAttempts {
				state, finalized = rivertype.JobStateDiscarded, &now
			}
			p.ID, p.Error = append(p.ID, o.ID), append(p.Error, msg)
			p.FinalizedAt, p.ScheduledAt, p.State = append(p.FinalizedAt, finalized), append(p.ScheduledAt, now), append(p.State, string(state))
			b.cfg.Log.Warn("rescuing an orphaned job", "job_id", o.ID, "river_client_id", o.ClientID, "state", state)
		}
		n = len(orphans)
		_, err = riverpgxv5.New(nil).UnwrapExecutor(tx.RiverTx()).JobRescueMany(ctx, p)
		return err
	})
	return n, err
}
