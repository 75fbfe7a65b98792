package jobs

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/sendcheck"
)

// ReplanArgs re-plans a resumed campaign's held deliveries.
type ReplanArgs struct {
	CampaignID int64 `json:"campaign_id"`
}

// Kind names the job.
func (ReplanArgs) Kind() string { return "replan_campaign" }

// InsertOpts runs re-planning on the planning queue.
func (ReplanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePlan, MaxAttempts: 25}
}

// ReplanConfig is what a ReplanWorker needs besides the store.
type ReplanConfig struct {
	Clock     outreach.Clock
	Cadence   Cadence
	SendBatch int
	Metrics   Metrics
	// Stopping is closed when the process stops gracefully.
	Stopping <-chan struct{}
}

// ReplanWorker walks a campaign's scheduled deliveries in batches and
// decides each again, under the contacts' locks, with the rules and history
// as they are now.
type ReplanWorker struct {
	river.WorkerDefaults[ReplanArgs]
	store *postgres.Store
	cfg   ReplanConfig
}

// NewReplanWorker returns the re-planning worker.
func NewReplanWorker(store *postgres.Store, cfg ReplanConfig) *ReplanWorker {
	if cfg.Clock == nil {
		cfg.Clock = outreach.SystemClock{}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	return &ReplanWorker{store: store, cfg: cfg}
}

// replanBatch is how many held deliveries are re-planned per transaction.
const replanBatch = 500

// Work re-plans the campaign.
func (w *ReplanWorker) Work(ctx context.Context, job *river.Job[ReplanArgs]) error {
	var after int64
	for {
		var n int
		err := w.store.InTx(ctx, func(tx *postgres.Tx) error {
			var err error
			n, after, err = w.batch(ctx, tx, job.Args.CampaignID, after)
			return err
		})
		if err != nil || n == 0 {
			return err
		}
		if closed(w.cfg.Stopping) {
			// Stopping: the batches done are committed; the rest are
			// still scheduled and re-planned when the job runs again.
			return river.JobSnooze(0)
		}
	}
}

func (w *ReplanWorker) batch(ctx context.Context, tx *postgres.Tx, campaignID, after int64) (int, int64, error) {
	camp, err := tx.Campaign(ctx, campaignID)
	if err != nil {
		return 0, 0, err
	}
	if camp.Status == outreach.CampaignPaused || camp.Status == outreach.CampaignCanceled {
		return 0, 0, nil
	}
	held, err := tx.HeldDeliveries(ctx, campaignID, after, replanBatch)
	if err != nil || len(held) == 0 {
		return 0, after, err
	}
	ids := make([]int64, 0, len(held))
	for _, h := range held {
		ids = append(ids, h.ContactID)
	}
	contacts, err := tx.LockContacts(ctx, ids)
	if err != nil {
		return 0, 0, err
	}
	tiers, err := w.store.Tiers(ctx)
	if err != nil {
		return 0, 0, err
	}
	p := planner.New(tiers, w.cfg.Cadence.DefaultZone, w.cfg.Cadence.Jitter)
	byID := make(map[int64]outreach.Contact, len(contacts))
	for _, c := range contacts {
		byID[c.ID] = c
	}
	now := w.cfg.Clock.Now()
	rng := rand.New(rand.NewPCG(uint64(campaignID), uint64(now.UnixNano())))
	var r replans
	for _, h := range held {
		if camp.Category == outreach.Transactional {
			// Transactional mail has no cadence: due again now.
			r.moves = append(r.moves, postgres.Move{ID: h.ID, At: now, Reason: outreach.ReasonScheduled})
			r.sends = append(r.sends, due{id: h.ID, at: now})
			continue
		}
		if err := r.add(ctx, tx, p, byID[h.ContactID], h.ID, h.ExpiresAt, camp.Priority, nil, now, rng); err != nil {
			return 0, 0, err
		}
	}
	if err := r.write(ctx, tx, w.cfg.Metrics); err != nil {
		return 0, 0, err
	}
	if err := enqueueSends(ctx, tx, r.sends, now, w.cfg.SendBatch); err != nil {
		return 0, 0, err
	}
	return len(held), held[len(held)-1].ID, nil
}

// replans collects re-planning decisions, written together.
type replans struct {
	moves []postgres.Move
	ends  []postgres.End
	sends []due
}

// add decides a held or failed-check delivery again, with the contact's
// history as it is now (extra: events not in the table yet, such as what
// the batch claimed), and moves it to its next valid moment or skips it
// (expired — expiry counts from the run's firing — or without a tier).
func (r *replans) add(ctx context.Context, tx *postgres.Tx, p *planner.Planner, c outreach.Contact, id int64, expires *time.Time,
	priority int, extra []cadence.Event, now time.Time, rng *rand.Rand) error {
	hist, err := tx.ContactCapHistory(ctx, c.ID, id, now.Add(-p.Window()))
	if err != nil {
		return err
	}
	tier, ok := p.EffectiveTier(c)
	m := sendcheck.Replan(sendcheck.ReplanInput{Tier: tier, NoTier: !ok, Zone: p.Zone(c), History: append(hist, extra...), Now: now,
		ExpiresAt: expires, Priority: priority, Spread: p.Spread}, rng)
	if m.Skip {
		r.ends = append(r.ends, postgres.End{ID: id, State: outreach.DeliverySkipped, Reason: m.Reason, Rule: m.Rule})
		return nil
	}
	r.moves = append(r.moves, postgres.Move{ID: id, At: m.At, Reason: m.Reason, Rule: m.Rule})
	r.sends = append(r.sends, due{id: id, at: m.At})
	return nil
}

// write applies the decisions in tx, one statement each for the moved and
// the ended, and counts the ended.
func (r *replans) write(ctx context.Context, tx *postgres.Tx, m Metrics) error {
	if err := tx.ReplanDeliveries(ctx, r.moves); err != nil {
		return err
	}
	if err := tx.EndDeliveries(ctx, r.ends); err != nil {
		return err
	}
	countEnds(m, r.ends)
	return nil
}

// countEnds counts deliveries reaching terminal states.
func countEnds(m Metrics, ends []postgres.End) {
	for _, e := range ends {
		m.Delivery(string(e.State), string(e.Reason), 1)
	}
}
