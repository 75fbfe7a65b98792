package postgres

import (
	"context"
	"time"

	"github.com/rapport-dev/rapport/internal/insight"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// ReplayContact is one contact whose effective tier is the replayed one,
// with their marketing deliveries of runs fired since the page's since,
// and the ones still scheduled, in planning order.
type ReplayContact struct {
	ID         int64
	Timezone   string
	Deliveries []insight.Delivery
}

// ReplayPage reads the next page of contacts whose effective tier is tier
// (in id order after afterID) and their deliveries, in two queries.
func (t *Tx) ReplayPage(ctx context.Context, tier string, afterID int64, limit int, since time.Time) ([]ReplayContact, error) {
	cs, err := t.q.ReplayContacts(ctx, dbsqlc.ReplayContactsParams{AfterID: afterID, Tier: tier, Lim: int32(limit)})
	if err != nil || len(cs) == 0 {
		return nil, mapError("replay contacts", err)
	}
	ids := make([]int64, len(cs))
	out := make([]ReplayContact, len(cs))
	at := make(map[int64]int, len(cs))
	for i, c := range cs {
		ids[i], out[i], at[c.ID] = c.ID, ReplayContact{ID: c.ID, Timezone: c.Timezone}, i
	}
	rows, err := t.q.ReplayDeliveries(ctx, dbsqlc.ReplayDeliveriesParams{Ids: ids, Since: since})
	if err != nil {
		return nil, mapError("replay deliveries", err)
	}
	for _, r := range rows {
		d := insight.Delivery{ID: r.ID, CampaignID: r.CampaignID, Priority: int(r.Priority), PlannedAt: r.CreatedAt,
			NotBefore: r.FireAt, State: outreach.DeliveryState(r.State), Reason: outreach.Reason(r.Reason),
			PlannedFor: r.PlannedFor, SentAt: r.SentAt}
		if r.ExpiresAt != nil {
			d.ExpiresAt = *r.ExpiresAt
		}
		c := &out[at[r.ContactID]]
		c.Deliveries = append(c.Deliveries, d)
	}
	return out, nil
}

// ScheduledRecurring lists the recurring campaigns that will fire again
// (scheduled, with a cron expression), in id order.
func (t *Tx) ScheduledRecurring(ctx context.Context) ([]outreach.Campaign, error) {
	rows, err := t.q.CampaignsRecurring(ctx)
	if err != nil {
		return nil, mapError("recurring campaigns", err)
	}
	return campaignsFromRows(rows), nil
}
