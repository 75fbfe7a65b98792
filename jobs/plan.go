package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// PlanArgs plans one contact-id range (Lo, Hi] of a campaign run. A run is
// split into ranges planned in parallel, by separate jobs.
type PlanArgs struct {
	RunID int64 `json:"run_id"`
	Lo    int64 `json:"lo"`
	Hi    int64 `json:"hi"`
}

// Kind names the job.
func (PlanArgs) Kind() string { return "plan_run" }

// InsertOpts puts planning on its own queue; one plan job per range.
func (PlanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePlan, MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// PlanConfig is what a PlanWorker needs besides the store.
type PlanConfig struct {
	Clock     outreach.Clock
	Cadence   Cadence
	BatchSize int           // contacts per planning transaction; 0 means 5000
	SendBatch int           // deliveries per send job
	Timeout   time.Duration // one go at a range; 0 means 10m
	// Stopping is closed when the process stops gracefully: planning
	// stops after the batch in hand and carries on elsewhere.
	Stopping <-chan struct{}
	Log      *slog.Logger // nil: discard
}

// PlanWorker fans a run out over its audience, batch by batch. Each batch is
// one transaction: lock the contacts, read their history, decide, COPY the
// deliveries and insert their send jobs. An interrupted job resumes after the
// last contact planned, so retries never plan anyone twice (and (run,
// contact) is unique besides).
type PlanWorker struct {
	river.WorkerDefaults[PlanArgs]
	store *postgres.Store
	cfg   PlanConfig
}

// NewPlanWorker returns the planning worker.
func NewPlanWorker(store *postgres.Store, cfg PlanConfig) *PlanWorker {
	if cfg.Clock == nil {
		cfg.Clock = outreach.SystemClock{}
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	return &PlanWorker{store: store, cfg: cfg}
}

// Timeout bounds one go at a range; a timed-out job resumes after the last
// contact it planned.
func (w *PlanWorker) Timeout(*river.Job[PlanArgs]) time.Duration { return w.cfg.Timeout }

// Work plans the range.
func (w *PlanWorker) Work(ctx context.Context, job *river.Job[PlanArgs]) error {
	run, err := w.store.Run(ctx, job.Args.RunID)
	if err != nil {
		return fmt.Errorf("plan run %d: %w", job.Args.RunID, err)
	}
	if run.Status != postgres.RunPlanning {
		return nil
	}
	camp, err := w.store.Campaign(ctx, run.CampaignID)
	if err != nil {
		return fmt.Errorf("plan run %d: %w", run.ID, err)
	}
	if camp.Status == outreach.CampaignCanceled {
		return nil
	}
	tiers, err := w.store.Tiers(ctx)
	if err != nil {
		return err
	}
	p := planner.New(tiers, w.cfg.Cadence.DefaultZone, w.cfg.Cadence.Jitter)
	r := planner.Run{Campaign: camp, ID: run.ID, FireAt: run.FireAt}
	if run.ExpiresAt != nil {
		r.ExpiresAt = *run.ExpiresAt
	}
	after, err := w.store.RunLastContact(ctx, run.ID, job.Args.Lo, job.Args.Hi)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(run.ID), uint64(job.Attempt)))
	for {
		var done, paused bool
		err := w.store.InTx(ctx, func(tx *postgres.Tx) error {
			status, err := tx.CampaignStatusShare(ctx, camp.ID)
			if err != nil {
				return err
			}
			switch status {
			case outreach.CampaignPaused:
				paused = true
				return nil
			case outreach.CampaignCanceled:
				done = true
				_, err := river.JobCompleteTx[*riverDriver](ctx, tx.RiverTx(), job)
				return err
			}
			n, last, err := w.planBatch(ctx, tx, p, r, after, job.Args.Hi, rng)
			if err != nil {
				return err
			}
			if n == 0 {
				done = true
				if err := tx.RunShardDone(ctx, run.ID); err != nil {
					return err
				}
				_, err := river.JobCompleteTx[*riverDriver](ctx, tx.RiverTx(), job)
				return err
			}
			after = last
			return nil
		})
		if err != nil {
			return fmt.Errorf("plan run %d after contact %d: %w", run.ID, after, err)
		}
		if paused {
			// Planning waits while the campaign is paused, and carries on
			// where it stopped once resumed.
			return river.JobSnooze(15 * time.Second)
		}
		// Sends of this run start at once: they need statistics that know
		// the rows just planned (Store.RefreshDeliveryStats). A failure
		// costs only speed.
		if _, err := w.store.RefreshDeliveryStats(ctx); err != nil {
			w.cfg.Log.Warn("delivery statistics not refreshed", "error", err.Error())
		}
		if done {
			// The last shard may finish after the last send batch (or
			// every contact was skipped): the campaign may be complete now.
			if _, err := w.store.CompleteCampaign(ctx, camp.ID); err != nil {
				w.cfg.Log.Warn("campaign completion left to the sweep", "campaign_id", camp.ID, "error", err.Error())
			}
			return nil
		}
		if closed(w.cfg.Stopping) {
			// Stopping: the batches planned are committed; another worker
			// (or this one, restarted) resumes after the last of them.
			return river.JobSnooze(0)
		}
	}
}

// refreshTiers brings p's tiers up to date when a target names one it does
// not have: a tier created (and given to contacts) after the job loaded
// them. Contacts reference tiers by foreign key, so the tier of a contact
// just read has committed and a new read finds it; the planner would
// otherwise skip the contact (ReasonNoTier).
func (w *PlanWorker) refreshTiers(ctx context.Context, p *planner.Planner, targets []planner.Target) error {
	if !slices.ContainsFunc(targets, func(t planner.Target) bool { return !p.Knows(t.Contact) }) {
		return nil
	}
	tiers, err := w.store.Tiers(ctx)
	if err != nil {
		return err
	}
	*p = *planner.New(tiers, p.DefaultZone, p.Spread)
	return nil
}

// planBatch plans the next batch of the range after contact after, in tx,
// and returns how many contacts it planned and the last one's id.
func (w *PlanWorker) planBatch(ctx context.Context, tx *postgres.Tx, p *planner.Planner, r planner.Run, after, maxID int64, rng *rand.Rand) (int, int64, error) {
	now := w.cfg.Clock.Now()
	batch := postgres.AudienceBatch{Audience: r.Campaign.Audience, After: after, Max: maxID, Limit: w.cfg.BatchSize,
		Since: now.Add(-p.Window())}
	targets, err := tx.LockAudience(ctx, batch)
	if err != nil || len(targets) == 0 {
		return 0, after, err
	}
	if err := w.refreshTiers(ctx, p, targets); err != nil {
		return 0, 0, err
	}
	if since := now.Add(-p.Window()); since.Before(batch.Since) {
		// A new tier looks further back than the history just read: read
		// it again (the contacts are locked already; the batch is the same).
		batch.Since = since
		if targets, err = tx.LockAudience(ctx, batch); err != nil {
			return 0, 0, err
		}
	}
	var expires *time.Time
	if !r.ExpiresAt.IsZero() {
		expires = &r.ExpiresAt
	}
	plan := postgres.Plan{Deliveries: make([]outreach.Delivery, len(targets))}
	var sends []due // displaced deliveries moved to a later moment
	for i, t := range targets {
		o := p.Plan(r, t, now, rng)
		planned := o.PlannedFor
		if planned.IsZero() {
			planned = now
		}
		plan.Deliveries[i] = outreach.Delivery{RunID: r.ID, CampaignID: r.Campaign.ID, ContactID: t.Contact.ID,
			Marketing: r.Campaign.Category == outreach.Marketing, Priority: r.Campaign.Priority, Tier: o.Tier,
			State: o.State, Reason: o.Reason, Rule: o.Rule, PlannedFor: planned, ExpiresAt: expires}
		for _, dp := range o.Displaced {
			if dp.Expired {
				plan.Skipped = append(plan.Skipped, postgres.End{ID: dp.ID, State: outreach.DeliverySkipped, Reason: outreach.ReasonPreempted, Rule: dp.Rule})
				continue
			}
			plan.Moved = append(plan.Moved, postgres.Move{ID: dp.ID, At: dp.At, Reason: dp.Reason, Rule: dp.Rule})
			sends = append(sends, due{id: dp.ID, at: dp.At})
		}
	}
	ids, err := tx.RecordPlan(ctx, plan)
	if err != nil {
		return 0, 0, err
	}
	for i, d := range plan.Deliveries {
		if d.State == outreach.DeliveryScheduled {
			sends = append(sends, due{id: ids[i], at: d.PlannedFor})
		}
	}
	if err := enqueueSends(ctx, tx, sends, now, w.cfg.SendBatch); err != nil {
		return 0, 0, err
	}
	return len(targets), targets[len(targets)-1].Contact.ID, nil
}
