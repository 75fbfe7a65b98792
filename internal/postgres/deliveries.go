package postgres

import (
	"context"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// DeliveryFilter narrows a delivery listing.
type DeliveryFilter struct {
	CampaignID, ContactID *int64
	State, Reason         string
	AfterID               int64
	Limit                 int
}

// Deliveries lists deliveries in id order.
func (s *Store) Deliveries(ctx context.Context, f DeliveryFilter) ([]outreach.Delivery, error) {
	rows, err := s.q.DeliveryList(ctx, dbsqlc.DeliveryListParams{AfterID: f.AfterID, CampaignID: f.CampaignID, ContactID: f.ContactID,
		State: nilIfEmpty(f.State), Reason: nilIfEmpty(f.Reason), Lim: int32(f.Limit)})
	if err != nil {
		return nil, mapError("list deliveries", err)
	}
	out := make([]outreach.Delivery, len(rows))
	for i, r := range rows {
		out[i] = outreach.Delivery{ID: r.ID, RunID: r.RunID, CampaignID: r.CampaignID, ContactID: r.ContactID, Tier: r.Tier,
			State: outreach.DeliveryState(r.State), Reason: outreach.Reason(r.Reason), Rule: r.Rule, PlannedFor: r.PlannedFor,
			Attempts: int(r.Attempts), MessageID: deref(r.MessageID), SentAt: r.SentAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	}
	return out, nil
}
