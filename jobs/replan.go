package jobs

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
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
	window := longest(tiers)
	for _, h := range held {
		if camp.Category == outreach.Transactional {
			// Transactional mail has no cadence: due again now.
			if err := q.DeliveryReplan(ctx, dbsqlc.DeliveryReplanParams{ID: h.ID, PlannedFor: now, Reason: string(outreach.ReasonScheduled), Now: now}); err != nil {
				return 0, 0, err
			}
			sends = append(sends, due{id: h.ID, at: now})
			continue
		}
		d, err := w.d.replanOne(ctx, q, p, byID[h.ContactID], h.ID, h.ExpiresAt, camp.Priority, nil, window, now, rng)
		if err != nil {
			return 0, 0, err
		}
		if d != nil {
			sends = append(sends, *d)
		}
	}
	if err := EnqueueSends(ctx, tx, sends, now, w.d.SendBatch); err != nil {
		return 0, 0, err
	}
	return len(held), held[len(held)-1].ID, nil
}

// replanOne decides a held or failed-check delivery again, with the
// contact's history as it is now (extra: events not in the table yet),
// and either moves it to its next valid moment — returning when it is due —
// or skips it as expired (expiry counts from the run's firing).
func (d *Deps) replanOne(ctx context.Context, q *dbsqlc.Queries, p *planner.Planner, c outreach.Contact, id int64, expires *time.Time,
	priority int, extra []cadence.Event, window time.Duration, now time.Time, rng *rand.Rand) (*due, error) {
	rows, err := q.ContactCapHistory(ctx, dbsqlc.ContactCapHistoryParams{ContactID: c.ID, ExceptID: id, Since: now.Add(-window)})
	if err != nil {
		return nil, err
	}
	hist := make([]cadence.Event, 0, len(rows)+len(extra))
	for _, r := range rows {
		hist = append(hist, cadence.Event{ID: r.ID, At: r.At, Priority: int(r.Priority), Reserved: r.State == string(outreach.DeliveryScheduled)})
	}
	hist = append(hist, extra...)
	tier, _ := p.EffectiveTier(c)
	req := cadence.Request{Rule: tier.Rule, Location: p.Zone(c), History: hist, Now: now, Priority: priority}
	if expires != nil {
		req.ExpiresAt = *expires
	}
	dec := cadence.Decide(req, rng, p.Spread)
	if dec.Reason == outreach.ReasonExpired {
		return nil, d.end(ctx, q, id, outreach.DeliverySkipped, outreach.ReasonExpired, dec.Rule, now)
	}
	if err := q.DeliveryReplan(ctx, dbsqlc.DeliveryReplanParams{ID: id, PlannedFor: dec.At, Reason: string(dec.Reason), Rule: dec.Rule, Now: now}); err != nil {
		return nil, err
	}
	return &due{id: id, at: dec.At}, nil
}

// end puts a delivery in a terminal state and counts it.
func (d *Deps) end(ctx context.Context, q *dbsqlc.Queries, id int64, state outreach.DeliveryState, reason outreach.Reason, rule string, now time.Time) error {
	if err := q.MarkTerminal(ctx, dbsqlc.MarkTerminalParams{ID: id, State: string(state), Reason: string(reason), Rule: rule, Now: now}); err != nil {
		return err
	}
	if d.Metrics != nil {
		d.Metrics.Delivery(string(state), string(reason), 1)
	}
	return nil
}
