package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
	"github.com/rapport-dev/rapport/internal/schedule"
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
		UniqueOpts: river.UniqueOpts{ByState: []riverJobState{riverStateAvailable, riverStatePending,
			riverStateRetryable, riverStateRunning, riverStateScheduled}}}
}

// defaultRelevance is how late a missed firing may still run when the
// campaign sets no expires_after.
const defaultRelevance = 24 * time.Hour

// FireDueInterval is how often the leader looks for due firings.
const FireDueInterval = 15 * time.Second

// PeriodicJobs are River periodic jobs. River keeps their timing only in
// the leader's memory, which is why the firing times themselves live in
// campaigns.next_fire_at and each firing is a unique (campaign, fire_at)
// run: a leader change or restart can neither lose nor repeat one.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(FireDueInterval),
			func() (river.JobArgs, *river.InsertOpts) { return FireDueArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
	}
}

// FireDueWorker creates the runs of due recurring campaigns and marks
// finished one-off campaigns completed.
type FireDueWorker struct {
	river.WorkerDefaults[FireDueArgs]
	d *Deps
	l *Launcher
}

// Work fires every due campaign and completes finished ones.
func (w *FireDueWorker) Work(ctx context.Context, _ *river.Job[FireDueArgs]) error {
	if err := w.fire(ctx); err != nil {
		return err
	}
	done, err := dbsqlc.New(w.d.Store.Pool()).CampaignsComplete(ctx, w.d.Clock.Now())
	for _, id := range done {
		w.d.Log.Info("campaign completed", "campaign_id", id)
	}
	return err
}

func (w *FireDueWorker) fire(ctx context.Context) error {
	return pgx.BeginFunc(ctx, w.d.Store.Pool(), func(tx pgx.Tx) error {
		now := w.d.Clock.Now()
		q := dbsqlc.New(tx)
		due, err := q.CampaignsDue(ctx, now)
		if err != nil {
			return err
		}
		for _, row := range due {
			c := postgres.CampaignFromRow(row)
			s, err := schedule.Parse(c.Cron, c.Timezone)
			if err != nil {
				w.d.Log.Error("recurring campaign has an invalid schedule", "campaign_id", c.ID, "error", err.Error())
				continue
			}
			fire := LatestFiring(s, *row.NextFireAt, now)
			relevance := c.ExpiresAfter
			if relevance <= 0 {
				relevance = defaultRelevance
			}
			if now.Sub(fire) <= relevance {
				if _, err := w.l.startRun(ctx, tx, c, fire); err != nil {
					return err
				}
			} else {
				w.d.Log.Warn("missed firing dropped: past its relevance window", "campaign_id", c.ID, "fire_at", fire)
			}
			next := s.Next(now)
			if err := q.CampaignSetNextFire(ctx, dbsqlc.CampaignSetNextFireParams{ID: c.ID, NextFireAt: &next, Now: now}); err != nil {
				return err
			}
		}
		return nil
	})
}

// LatestFiring is the last firing at or before now, starting from next (a
// firing that is due): after downtime only the most recent missed firing
// runs, not every one that was missed.
func LatestFiring(s schedule.Schedule, next, now time.Time) time.Time {
	fire := next
	for i := 0; i < 100000; i++ {
		n := s.Next(fire)
		if n.IsZero() || n.After(now) {
			break
		}
		fire = n
	}
	return fire
}
