package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/rapport-dev/rapport/internal/postgres"
)

// PruneHistoryArgs deletes final deliveries older than DELIVERY_RETENTION.
type PruneHistoryArgs struct{}

// Kind names the job.
func (PruneHistoryArgs) Kind() string { return "prune_history" }

// PruneHistoryInterval is how often the leader enqueues the pruning.
const PruneHistoryInterval = time.Hour

// PruneHistoryTimeout bounds one run; a long backlog (the first run over
// years of deliveries) continues in the next.
const PruneHistoryTimeout = 10 * time.Minute

// Each batch deletes at most pruneBatch rows in its own transaction; one
// run deletes at most pruneBatches of them (10 million rows).
const (
	pruneBatch   = 5000
	pruneBatches = 2000
)

// InsertOpts keeps one pending pruning at a time, on the insight queue
// (one worker, on scheduler processes), away from the send queue.
func (PruneHistoryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueInsight, MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
			rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
}

// Pruner deletes old final deliveries (postgres.Store).
type Pruner interface {
	PruneDeliveries(ctx context.Context, retention time.Duration, batch, maxBatches int) (postgres.PruneReport, error)
}

// PruneHistoryWorker keeps deliveries for Retention and no longer.
type PruneHistoryWorker struct {
	river.WorkerDefaults[PruneHistoryArgs]
	store     Pruner
	retention time.Duration
	log       *slog.Logger
}

// NewPruneHistoryWorker returns the worker; retention is DELIVERY_RETENTION.
func NewPruneHistoryWorker(store Pruner, retention time.Duration, log *slog.Logger) *PruneHistoryWorker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PruneHistoryWorker{store: store, retention: retention, log: log}
}

// Timeout bounds one run.
func (w *PruneHistoryWorker) Timeout(*river.Job[PruneHistoryArgs]) time.Duration {
	return PruneHistoryTimeout
}

// Work deletes a run's worth of old final deliveries.
func (w *PruneHistoryWorker) Work(ctx context.Context, _ *river.Job[PruneHistoryArgs]) error {
	start := time.Now()
	rep, err := w.store.PruneDeliveries(ctx, w.retention, pruneBatch, pruneBatches)
	if err != nil {
		return err
	}
	if rep.Deleted > 0 || !rep.Done {
		w.log.Info("pruned deliveries", "deleted", rep.Deleted, "before", rep.Before, "batches", rep.Batches,
			"done", rep.Done, "seconds", time.Since(start).Seconds())
	}
	return nil
}
