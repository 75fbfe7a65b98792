// The send-time check: each due delivery against the locked contact, its
// suppression, its campaign and the caps as really sent.

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

// check re-checks the job's due deliveries for the locked contacts, in its
// own committed transaction: deliveries that must never go are ended with
// their reason, those that may go later are re-planned, and the rest are
// returned ready to send (not yet claimed).
func (w *SendWorker) check(ctx context.Context, job *river.Job[SendArgs], locked []dbsqlc.Contact, want map[int64]bool) ([]outgoing, error) {
	var ready []outgoing
	err := pgx.BeginFunc(ctx, w.d.Store.Pool(), func(tx pgx.Tx) error {
		ready = nil
		q := dbsqlc.New(tx)
		now := w.d.Clock.Now()
		c, err := w.newCheck(ctx, tx, locked, now)
		if err != nil {
			return err
		}
		rows, err := q.SendLoad(ctx, job.Args.DeliveryIDs)
		if err != nil {
			return err
		}
		var replans []due
		for _, r := range rows {
			if !want[r.ID] || r.State != string(outreach.DeliveryScheduled) || r.PlannedFor.After(now.Add(dueSlack)) {
				continue // not this run's, handled elsewhere, or re-planned to a later job
			}
			contact, known := c.contacts[r.ContactID]
			if !known {
				continue
			}
			o, replan, err := w.checkOne(ctx, q, c, r, contact, now)
			if err != nil {
				return err
			}
			if replan != nil {
				replans = append(replans, *replan)
			}
			if o != nil {
				ready = append(ready, *o)
			}
		}
		return EnqueueSends(ctx, tx, replans, now, w.d.SendBatch)
	})
	return ready, err
}

// check is the state a batch's send-time checks run against.
type check struct {
	planner     *planner.Planner
	campaigns   map[int64]outreach.Campaign
	contacts    map[int64]outreach.Contact
	suppression map[int64]outreach.SuppressionReason
	sent        map[int64][]cadence.Event // what was really sent, plus what this batch claims
	window      time.Duration
}

func (w *SendWorker) newCheck(ctx context.Context, tx pgx.Tx, locked []dbsqlc.Contact, now time.Time) (*check, error) {
	q := dbsqlc.New(tx)
	tiers, err := w.d.Store.Tiers(ctx)
	if err != nil {
		return nil, err
	}
	c := &check{
		planner:   w.d.planner(tiers),
		campaigns: map[int64]outreach.Campaign{},
		contacts:  map[int64]outreach.Contact{},
		sent:      map[int64][]cadence.Event{},
		window:    longest(tiers),
	}
	ids := make([]int64, len(locked))
	for i, row := range locked {
		ids[i] = row.ID
		c.contacts[row.ID] = postgres.ContactFromRow(row)
	}
	if c.suppression, err = suppressionsOf(ctx, q, locked); err != nil {
		return nil, err
	}
	sent, err := q.SentHistory(ctx, dbsqlc.SentHistoryParams{ContactIds: ids, Since: now.Add(-c.window)})
	if err != nil {
		return nil, err
	}
	for _, s := range sent {
		c.sent[s.ContactID] = append(c.sent[s.ContactID], cadence.Event{At: s.At})
	}
	return c, nil
}

func (w *SendWorker) campaign(ctx context.Context, q *dbsqlc.Queries, c *check, id int64) (outreach.Campaign, error) {
	if camp, ok := c.campaigns[id]; ok {
		return camp, nil
	}
	row, err := q.CampaignGet(ctx, id)
	if err != nil {
		return outreach.Campaign{}, err
	}
	camp := postgres.CampaignFromRow(row)
	c.campaigns[id] = camp
	return camp, nil
}

// checkOne decides whether one delivery may go now. It ends it (skipped or
// failed) when it must never go, re-plans it when it may go later, and
// returns the message when it may go now.
func (w *SendWorker) checkOne(ctx context.Context, q *dbsqlc.Queries, c *check, r dbsqlc.SendLoadRow, contact outreach.Contact, now time.Time) (*outgoing, *due, error) {
	camp, err := w.campaign(ctx, q, c, r.CampaignID)
	if err != nil {
		return nil, nil, err
	}
	end := func(state outreach.DeliveryState, reason outreach.Reason, rule string) (*outgoing, *due, error) {
		return nil, nil, w.end(ctx, q, r.ID, state, reason, rule, now)
	}
	switch camp.Status {
	case outreach.CampaignPaused:
		return nil, nil, nil // held; resume re-plans it
	case outreach.CampaignCanceled:
		return end(outreach.DeliverySkipped, outreach.ReasonCanceled, "")
	}
	if reason := planner.Blocked(contact, c.suppression[contact.ID], camp.Category, camp.Topic, now); reason != "" {
		return end(outreach.DeliverySkipped, reason, "")
	}
	if r.ExpiresAt != nil && now.After(*r.ExpiresAt) {
		return end(outreach.DeliverySkipped, outreach.ReasonExpired, "expires_after")
	}
	if r.Marketing {
		tier, _ := c.planner.EffectiveTier(contact)
		req := cadence.Request{Rule: tier.Rule, Location: c.planner.Zone(contact), History: c.sent[contact.ID], Now: now}
		if ok, _, _ := cadence.Check(req); !ok {
			return w.replan(ctx, q, c, r, camp, contact, now)
		}
		c.sent[contact.ID] = append(c.sent[contact.ID], cadence.Event{At: now})
	}
	env, err := w.envelope(camp, contact, r)
	if err != nil {
		return end(outreach.DeliveryFailed, outreach.ReasonFailedPermanent, "template: "+err.Error())
	}
	return &outgoing{row: r, contact: contact, envelope: env}, nil, nil
}

// replan moves a delivery that may not go now to its next valid moment, or
// skips it as expired. Deliveries this batch already claimed for the
// contact count as sent.
func (w *SendWorker) replan(ctx context.Context, q *dbsqlc.Queries, c *check, r dbsqlc.SendLoadRow, camp outreach.Campaign, contact outreach.Contact, now time.Time) (*outgoing, *due, error) {
	rng := rand.New(rand.NewPCG(uint64(r.ID), uint64(now.UnixNano())))
	d, err := w.d.replanOne(ctx, q, c.planner, contact, r.ID, r.ExpiresAt, camp.Priority, c.sent[contact.ID], c.window, now, rng)
	return nil, d, err
}
