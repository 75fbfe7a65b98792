package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// Tiers lists every tier, strictest first.
func (s *Store) Tiers(ctx context.Context) ([]outreach.Tier, error) {
	rows, err := s.q.TierList(ctx)
	if err != nil {
		return nil, mapError("list tiers", err)
	}
	out := make([]outreach.Tier, 0, len(rows))
	for _, r := range rows {
		t, err := tierFromRow(r)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Tier returns one tier by key.
func (s *Store) Tier(ctx context.Context, key string) (outreach.Tier, error) {
	r, err := s.q.TierGet(ctx, key)
	if err != nil {
		return outreach.Tier{}, mapError("tier "+key, err)
	}
	return tierFromRow(r)
}

// DefaultTiers are the tiers shipped on first start (SPEC "Domain"). Mail
// goes out 08:00–20:00 local time, every day, unless an admin says otherwise.
func DefaultTiers() []outreach.Tier {
	day := 24 * time.Hour
	window := outreach.SendWindow{Days: outreach.AllDays(), Start: 8 * 60, End: 20 * 60}
	return []outreach.Tier{
		{Key: "low", Name: "Only important updates", Rank: 10, Selectable: true,
			Description: "Low relationship: wants the product to work and little mail.",
			Rule: outreach.Rule{Caps: []outreach.Cap{{Max: 1, Window: outreach.Duration(30 * day)}},
				MinGap: 14 * day, TargetInterval: 90 * day, SendWindow: window}},
		{Key: "medium", Name: "About once a week", Rank: 20, Selectable: true,
			Description: "Medium relationship.",
			Rule: outreach.Rule{Caps: []outreach.Cap{{Max: 1, Window: outreach.Duration(7 * day)}, {Max: 3, Window: outreach.Duration(30 * day)}},
				TargetInterval: 30 * day, SendWindow: window}},
		{Key: "high", Name: "Everything, up to daily", Rank: 30, Selectable: true,
			Description: "High relationship: evangelists and major accounts who want to hear more.",
			Rule: outreach.Rule{Caps: []outreach.Cap{{Max: 1, Window: outreach.Duration(day)}, {Max: 3, Window: outreach.Duration(7 * day)}},
				TargetInterval: 14 * day, SendWindow: window}},
	}
}

// DefaultTopics are the topics shipped on first start.
func DefaultTopics() []outreach.Topic {
	return []outreach.Topic{
		{Key: "product-news", Name: "Product news"},
		{Key: "offers", Name: "Offers"},
		{Key: "events", Name: "Events"},
	}
}

// Seed creates the default tiers and topics that do not exist yet; tiers an
// admin changed are left alone.
func (s *Store) Seed(ctx context.Context) error {
	now := s.clock.Now()
	return mapError("seed", s.InTx(ctx, func(tx *Tx) error {
		q := tx.q
		for _, t := range DefaultTiers() {
			rule, err := json.Marshal(t.Rule)
			if err != nil {
				return err
			}
			if _, err := q.TierInsert(ctx, dbsqlc.TierInsertParams{Key: t.Key, Name: t.Name, Description: t.Description,
				Rank: int32(t.Rank), Selectable: t.Selectable, Rule: rule, Now: now}); err != nil && outreach.ErrorCode(mapError("", err)) != outreach.ENOTFOUND {
				return err
			}
		}
		for _, t := range DefaultTopics() {
			if _, err := q.TopicInsert(ctx, dbsqlc.TopicInsertParams{Key: t.Key, Name: t.Name, Now: now}); err != nil && outreach.ErrorCode(mapError("", err)) != outreach.ENOTFOUND {
				return err
			}
		}
		return nil
	}))
}

// Topics lists every topic.
func (s *Store) Topics(ctx context.Context) ([]outreach.Topic, error) {
	rows, err := s.q.TopicList(ctx)
	if err != nil {
		return nil, mapError("list topics", err)
	}
	out := make([]outreach.Topic, len(rows))
	for i, r := range rows {
		out[i] = outreach.Topic{Key: r.Key, Name: r.Name}
	}
	return out, nil
}

// CreateTopic adds a topic.
func (s *Store) CreateTopic(ctx context.Context, actor string, t outreach.Topic) (outreach.Topic, error) {
	if errs := t.Validate(); len(errs) > 0 {
		return t, outreach.Invalid(errs...)
	}
	now := s.clock.Now()
	err := s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.q.TopicCreate(ctx, dbsqlc.TopicCreateParams{Key: t.Key, Name: t.Name, Now: now}); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, "create", "topic", t.Key, nil, map[string]any{"key": t.Key, "name": t.Name})
	})
	return t, mapError("create topic", err)
}
