package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// FireDueArgs fires recurring campaigns whose next firing has come.
type FireDueArgs struct{}

// Kind names the job.
func (FireDueArgs) Kind() string { return "fire_due" }

// InsertOpts keeps one pending fire_due job at a time.
func (FireDueArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePlan, MaxAttempts: 3,
		// River requires pending and running among the unique states; with
		// completed left out, the next period can insert a new one.
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
			rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
}

// FireDueInterval is how often the leader looks for due firings.
const FireDueInterval = 15 * time.Second

// PeriodicJobs are River periodic jobs. River keeps their timing only in
// the leader's memory, which is why the firing times themselves live in
// campaigns.next_fire_at and each firing is a unique (campaign, fire_at)
// run: a leader change or restart can neither lose nor repeat one. The
// insight rollup keeps its own watermark for the same reason. ws says
// which workers the process has: a job is only scheduled for a worker it
// registered.
func PeriodicJobs(ws Workers) []*river.PeriodicJob {
	out := []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(FireDueInterval),
			func() (river.JobArgs, *river.InsertOpts) { return FireDueArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
	}
	if ws.Webhook != nil {
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(WebhookDispatchInterval),
			func() (river.JobArgs, *river.InsertOpts) { return WebhookDispatchArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}))
	}
	if ws.Resend != nil {
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(ResendLostInterval),
			func() (river.JobArgs, *river.InsertOpts) { return ResendLostArgs{}, nil }, nil))
	}
	if ws.Rollup != nil {
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(InsightRollupInterval),
			func() (river.JobArgs, *river.InsertOpts) { return InsightRollupArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}))
	}
	if ws.Prune != nil {
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(PruneHistoryInterval),
			func() (river.JobArgs, *river.InsertOpts) { return PruneHistoryArgs{}, nil }, nil))
	}
	return out
}

// Firer fires due recurring campaigns and completes finished ones
// (campaign.Service).
type Firer interface {
	FireDue(ctx context.Context) error
}

// FireDueWorker runs the campaign service's firing of due campaigns.
type FireDueWorker struct {
	river.WorkerDefaults[FireDueArgs]
	campaigns Firer
}

// NewFireDueWorker returns the worker.
func NewFireDueWorker(campaigns Firer) *FireDueWorker { return &FireDueWorker{campaigns: campaigns} }

// Work fires every due campaign and completes finished ones.
func (w *FireDueWorker) Work(ctx context.Context, _ *river.Job[FireDueArgs]) error {
	return w.campaigns.FireDue(ctx)
}
