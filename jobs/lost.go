package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// ResendLostArgs gives a new send job to scheduled deliveries that lost
// theirs. A delivery waits in exactly one live send_batch job; if that job
// disappears (deleted or cancelled through River's UI, or discarded after
// its attempts), nothing else would ever send or end the delivery.
type ResendLostArgs struct{}

// Kind names the job.
func (ResendLostArgs) Kind() string { return "resend_lost" }

// InsertOpts keeps one pending sweep at a time, on the scheduler's queue.
func (ResendLostArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePlan, MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
			rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
}

const (
	// ResendLostInterval is how often the leader sweeps.
	ResendLostInterval = time.Minute
	// LostAfter is how long past its moment a scheduled delivery with
	// no live send job waits before it gets a new one: longer than any
	// job takes to pick up what is due, so a delivery on its way is
	// never doubled (and if it were, the claim lets one job send it).
	LostAfter = 5 * time.Minute
	// lostPerRun bounds one sweep's new deliveries; lostScan the
	// overdue deliveries it examines.
	lostPerRun = 1000
	lostScan   = 20000
)

// ResendLostConfig is what the sweep needs besides the store.
type ResendLostConfig struct {
	Clock     outreach.Clock
	Log       *slog.Logger
	SendBatch int // deliveries per send job it enqueues
}

// ResendLostWorker runs the sweep: one transaction finds the orphans
// (postgres.Tx.Orphans) and enqueues their send jobs, due now.
type ResendLostWorker struct {
	river.WorkerDefaults[ResendLostArgs]
	store *postgres.Store
	cfg   ResendLostConfig
}

// NewResendLostWorker returns the sweep's worker.
func NewResendLostWorker(store *postgres.Store, cfg ResendLostConfig) *ResendLostWorker {
	if cfg.Clock == nil {
		cfg.Clock = outreach.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &ResendLostWorker{store: store, cfg: cfg}
}

// Work enqueues send jobs for the orphaned deliveries it finds.
func (w *ResendLostWorker) Work(ctx context.Context, _ *river.Job[ResendLostArgs]) error {
	now := w.cfg.Clock.Now()
	var n int
	err := w.store.InTx(ctx, func(tx *postgres.Tx) error {
		ids, err := tx.LostDeliveries(ctx, now.Add(-LostAfter), lostScan, lostPerRun)
		if err != nil || len(ids) == 0 {
			return err
		}
		n = len(ids)
		sends := make([]due, len(ids))
		for i, id := range ids {
			sends[i] = due{id: id, at: now}
		}
		return enqueueSends(ctx, tx, sends, now, w.cfg.SendBatch)
	})
	if err == nil && n > 0 {
		w.cfg.Log.Warn("scheduled deliveries had no send job; enqueued new ones", "deliveries", n)
	}
	return err
}
