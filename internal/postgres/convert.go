package postgres

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// Conversions between stored rows and domain types. Rows never leave the
// package.

func campaignFromRow(r dbsqlc.Campaign) outreach.Campaign {
	c := outreach.Campaign{ID: r.ID, Name: r.Name, Topic: deref(r.Topic), Category: outreach.Category(r.Category),
		Priority: int(r.Priority), SendAt: r.SendAt, Cron: r.Cron, Timezone: r.Timezone,
		ExpiresAfter: time.Duration(r.ExpiresAfterSeconds) * time.Second, Status: outreach.CampaignStatus(r.Status),
		NextFireAt: r.NextFireAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	_ = json.Unmarshal(r.Content, &c.Content)
	_ = json.Unmarshal(r.Variants, &c.Variants)
	_ = json.Unmarshal(r.Audience, &c.Audience)
	return c
}

func campaignsFromRows(rows []dbsqlc.Campaign) []outreach.Campaign {
	out := make([]outreach.Campaign, len(rows))
	for i, r := range rows {
		out[i] = campaignFromRow(r)
	}
	return out
}

// contactFromRow converts a contact row. Its LastSentAt is the column
// migration 00015 left for the previous release's processes, stale since:
// when a contact was last mailed is in contact_last_sent (Store.LastSent).
func contactFromRow(r dbsqlc.Contact) outreach.Contact {
	c := outreach.Contact{ID: r.ID, Email: r.Email, ExternalID: deref(r.ExternalID), Name: r.Name, Locale: r.Locale,
		Timezone: r.Timezone, Tier: r.Tier, PreferredTier: deref(r.PreferredTier), TopicsOptedOut: r.TopicsOptedOut,
		PausedUntil: r.PausedUntil, Status: outreach.ContactStatus(r.Status), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if c.TopicsOptedOut == nil {
		c.TopicsOptedOut = []string{}
	}
	_ = json.Unmarshal(r.Attributes, &c.Attributes)
	if c.Attributes == nil {
		c.Attributes = map[string]any{}
	}
	return c
}

func contactsFromRows(rows []dbsqlc.Contact) []outreach.Contact {
	out := make([]outreach.Contact, len(rows))
	for i, r := range rows {
		out[i] = contactFromRow(r)
	}
	return out
}

func tierFromRow(r dbsqlc.Tier) (outreach.Tier, error) {
	t := outreach.Tier{Key: r.Key, Name: r.Name, Description: r.Description, Rank: int(r.Rank),
		Selectable: r.Selectable, Version: int(r.Version), UpdatedAt: r.UpdatedAt}
	if err := json.Unmarshal(r.Rule, &t.Rule); err != nil {
		return t, err
	}
	return t, nil
}

func auditFromRow(r dbsqlc.AuditLog) outreach.AuditEntry {
	return outreach.AuditEntry{ID: r.ID, Actor: r.Actor, Action: r.Action, Entity: r.Entity, EntityID: r.EntityID,
		Before: r.Before, After: r.After, CreatedAt: r.CreatedAt}
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func jsonOrNil(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.([]byte); ok {
		return raw, nil
	}
	return json.Marshal(v)
}
