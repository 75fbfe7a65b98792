package postgres

import (
	"context"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// CampaignCounts is the number of campaigns in each status (statuses with
// none are absent), for the console's dashboard. The campaigns table is
// small, so this is one cheap grouped count.
func (s *Store) CampaignCounts(ctx context.Context) (map[outreach.CampaignStatus]int64, error) {
	rows, err := s.q.CampaignCountByStatus(ctx)
	if err != nil {
		return nil, mapError("count campaigns", err)
	}
	out := make(map[outreach.CampaignStatus]int64, len(rows))
	for _, r := range rows {
		out[outreach.CampaignStatus(r.Status)] = r.N
	}
	return out, nil
}
