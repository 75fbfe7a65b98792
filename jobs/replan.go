package jobs

import (
	"context"
	"math/rand/v2"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
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

// ReplanWorker walks a campaign's scheduled deliveries in batches and
// decides each again, under the contacts' locks, with the rules and history
// as they are now.
type ReplanWorker struct {
	river.WorkerDefaults[ReplanArgs]
	d *Deps
}

// Work re-plans the campaign.
func (w *ReplanWorker) Work(ctx context.Context, job *river.Job[ReplanArgs]) error {
	var after int64
	for {
		var n int
		err := pgx.BeginFunc(ctx, w.d.Store.Pool(), func(tx pgx.Tx) error {
			var err error
			n, after, err = w.batch(ctx, tx, job.Args.CampaignID, after)
			return err
		})
		if err != nil || n == 0 {
			return err
		}
	}
}

func (w *ReplanWorker) batch(ctx context.Context, tx pgx.Tx, campaignID, after int64) (int, int64, error) {
	q := dbsqlc.New(tx)
	crow, err := q.CampaignGet(ctx, campaignID)
	if err != nil {
		return 0, 0, err
	}
	camp := postgres.CampaignFromRow(crow)
	if camp.Status == outreach.CampaignPaused || camp.Status == outreach.CampaignCanceled {
		return 0, 0, nil
	}
	held, err := q.HeldDeliveries(ctx, dbsqlc.HeldDeliveriesParams{CampaignID: campaignID, AfterID: after, Lim: 500})
	if err != nil || len(held) == 0 {
		return 0, after, err
	}
	ids := make([]int64, 0, len(held))
	for _, h := range held {
		ids = append(ids, h.ContactID)
	}
	contacts, err := q.LockContacts(ctx, ids)
	if err != nil {
		return 0, 0, err
	}
	now := w.d.Clock.Now()
	tiers, err := w.d.Store.Tiers(ctx)
	if err != nil {
		return 0, 0, err
	}
	p := w.d.planner(tiers)
	byID := map[int64]outreach.Contact{}
	for _, c := range contacts {
		byID[c.ID] = postgres.ContactFromRow(c)
	}
	rng := rand.New(rand.NewPCG(uint64(campaignID), uint64(now.UnixNano())))
	var sends []due
	for _, h := range held {
		c := byID[h.ContactID]
		rows, err := q.ContactCapHistory(ctx, dbsqlc.ContactCapHistoryParams{ContactID: c.ID, ExceptID: h.ID, Since: now.Add(-longest(tiers))})
		if err != nil {
			return 0, 0, err
		}
		var hist []cadence.Event
		for _, r := range rows {
			hist = append(hist, cadence.Event{ID: r.ID, At: r.At, Priority: int(r.Priority), Reserved: r.State == "scheduled"})
		}
		tier, _ := p.EffectiveTier(c)
		req := cadence.Request{Rule: tier.Rule, Location: p.Zone(c), History: hist, Now: now, Priority: camp.Priority}
		if h.ExpiresAt != nil {
			req.ExpiresAt = *h.ExpiresAt // counted from the run's firing
		}
		d := cadence.Decide(req, rng, p.Spread)
		if camp.Category == outreach.Transactional {
			d = cadence.Decision{At: now, Reason: outreach.ReasonScheduled}
		}
		if d.Reason == outreach.ReasonExpired {
			err = q.MarkTerminal(ctx, dbsqlc.MarkTerminalParams{ID: h.ID, State: string(outreach.DeliverySkipped), Reason: string(outreach.ReasonExpired), Rule: d.Rule, Now: now})
		} else {
			err = q.DeliveryReplan(ctx, dbsqlc.DeliveryReplanParams{ID: h.ID, PlannedFor: d.At, Reason: string(d.Reason), Rule: d.Rule, Now: now})
			sends = append(sends, due{id: h.ID, at: d.At})
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if err := EnqueueSends(ctx, tx, sends, now, w.d.SendBatch); err != nil {
		return 0, 0, err
	}
	return len(held), held[len(held)-1].ID, nil
}
