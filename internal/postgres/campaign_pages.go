package postgres

import (
	"context"
	"strings"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// CampaignsNewest lists campaigns with one of statuses, newest first,
// before the id beforeID (0: from the newest).
func (s *Store) CampaignsNewest(ctx context.Context, statuses []outreach.CampaignStatus, beforeID int64, limit int) ([]outreach.Campaign, error) {
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	st := make([]string, len(statuses))
	for i, v := range statuses {
		st[i] = string(v)
	}
	rows, err := s.q.CampaignsNewest(ctx, dbsqlc.CampaignsNewestParams{BeforeID: beforeID, Statuses: st, Lim: int32(limit)})
	if err != nil {
		return nil, mapError("list campaigns", err)
	}
	return campaignsFromRows(rows), nil
}

// ContactsByEmail finds up to limit contacts whose address starts with
// prefix (any case), in address order: a whole address finds its contact.
func (s *Store) ContactsByEmail(ctx context.Context, prefix string, limit int) ([]outreach.Contact, error) {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	if prefix == "" {
		return nil, nil
	}
	rows, err := s.q.ContactsByEmailFrom(ctx, dbsqlc.ContactsByEmailFromParams{Start: prefix, Lim: int32(limit)})
	if err != nil {
		return nil, mapError("find contacts", err)
	}
	var out []outreach.Contact
	for _, c := range contactsFromRows(rows) {
		if strings.HasPrefix(c.Email, prefix) {
			out = append(out, c)
		}
	}
	return out, nil
}
