package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/rapport-dev/rapport/internal/postgres"
)

// InsightRollupArgs brings the fatigue and pressure rollups up to date.
type InsightRollupArgs struct{}

// Kind names the job.
func (InsightRollupArgs) Kind() string { return "insight_rollup" }

// InsightRollupInterval is how often the leader enqueues the rollup: the
// fatigue of today is at most this old.
const InsightRollupInterval = 5 * time.Minute

// InsightRollupTimeout bounds one run; a long catch-up (the first run over
// months of history) continues in the next, from the day it reached.
const InsightRollupTimeout = 10 * time.Minute

// InsertOpts keeps one pending rollup at a time.
func (InsightRollupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueInsight, MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
			rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
}

// Rollupper rolls the insight tables up (tuning.Service).
type Rollupper interface {
	Rollup(ctx context.Context) (postgres.RollupReport, error)
}

// InsightRollupWorker runs the rollup. The rollup itself is idempotent and
// safe in several processes at once (its watermark row is locked), so a
// retried or duplicated job costs only time.
type InsightRollupWorker struct {
	river.WorkerDefaults[InsightRollupArgs]
	insights Rollupper
}

// NewInsightRollupWorker returns the worker.
func NewInsightRollupWorker(insights Rollupper) *InsightRollupWorker {
	return &InsightRollupWorker{insights: insights}
}

// Timeout bounds one run.
func (w *InsightRollupWorker) Timeout(*river.Job[InsightRollupArgs]) time.Duration {
	return InsightRollupTimeout
}

// Work rolls up what is new since the watermark.
func (w *InsightRollupWorker) Work(ctx context.Context, _ *river.Job[InsightRollupArgs]) error {
	_, err := w.insights.Rollup(ctx)
	return err
}
