package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
)

// CreateCampaign stores a validated campaign as a draft.
func (s *Store) CreateCampaign(ctx context.Context, actor string, c outreach.Campaign) (outreach.Campaign, error) {
	out, _, err := s.CreateCampaignIdem(ctx, actor, c, nil)
	return out, err
}

// CreateCampaignIdem is CreateCampaign under an Idempotency-Key: a retried
// request returns the campaign the first one created (replayed true).
func (s *Store) CreateCampaignIdem(ctx context.Context, actor string, c outreach.Campaign, idem *Idem) (outreach.Campaign, bool, error) {
	content, _ := json.Marshal(c.Content)
	variants, _ := json.Marshal(orEmpty(c.Variants))
	audience, _ := json.Marshal(c.Audience)
	now := s.clock.Now()
	var out outreach.Campaign
	var replayed bool
	err := s.InTx(ctx, func(tx pgxTx) error {
		prev, err := ClaimIdempotency(ctx, tx, now, idem)
		if err != nil {
			return err
		}
		if prev != nil {
			row, err := Queries(tx).CampaignGet(ctx, prev.ResourceID)
			out, replayed = CampaignFromRow(row), true
			return err
		}
		row, err := Queries(tx).CampaignInsert(ctx, dbsqlc.CampaignInsertParams{
			Name: c.Name, Topic: nilIfEmpty(c.Topic), Category: string(c.Category), Priority: int32(c.Priority),
			Content: content, Variants: variants, Audience: audience, SendAt: c.SendAt, Cron: c.Cron,
			Timezone: c.Timezone, ExpiresAfterSeconds: int64(c.ExpiresAfter / time.Second), CreatedBy: actor, Now: now,
		})
		if err != nil {
			return err
		}
		out = CampaignFromRow(row)
		if err := SetIdempotencyResult(ctx, tx, idem, out.ID, nil); err != nil {
			return err
		}
		return audit(ctx, tx, now, actor, "create", "campaign", itoa(out.ID), nil, map[string]any{"name": out.Name, "category": out.Category, "topic": out.Topic})
	})
	return out, replayed, mapError("create campaign", err)
}

// Campaign returns one campaign.
func (s *Store) Campaign(ctx context.Context, id int64) (outreach.Campaign, error) {
	row, err := s.q.CampaignGet(ctx, id)
	if err != nil {
		return outreach.Campaign{}, mapError("campaign", err)
	}
	return CampaignFromRow(row), nil
}

// CampaignFromRow converts a stored campaign.
func CampaignFromRow(r dbsqlc.Campaign) outreach.Campaign {
	c := outreach.Campaign{ID: r.ID, Name: r.Name, Topic: deref(r.Topic), Category: outreach.Category(r.Category),
		Priority: int(r.Priority), SendAt: r.SendAt, Cron: r.Cron, Timezone: r.Timezone,
		ExpiresAfter: time.Duration(r.ExpiresAfterSeconds) * time.Second, Status: outreach.CampaignStatus(r.Status),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	_ = json.Unmarshal(r.Content, &c.Content)
	_ = json.Unmarshal(r.Variants, &c.Variants)
	_ = json.Unmarshal(r.Audience, &c.Audience)
	return c
}

func orEmpty(m map[string]outreach.Content) map[string]outreach.Content {
	if m == nil {
		return map[string]outreach.Content{}
	}
	return m
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
