package api

import (
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

type contactJSON struct {
	ID             int64          `json:"id"`
	Email          string         `json:"email"`
	ExternalID     *string        `json:"external_id"`
	Name           string         `json:"name"`
	Tier           string         `json:"tier"`
	PreferredTier  *string        `json:"preferred_tier"`
	Timezone       string         `json:"timezone"`
	Locale         string         `json:"locale"`
	TopicsOptedOut []string       `json:"topics_opted_out"`
	PausedUntil    *time.Time     `json:"paused_until"`
	Attributes     map[string]any `json:"attributes"`
	Status         string         `json:"status"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toContactJSON(c outreach.Contact) contactJSON {
	return contactJSON{ID: c.ID, Email: c.Email, ExternalID: strPtr(c.ExternalID), Name: c.Name, Tier: c.Tier,
		PreferredTier: strPtr(c.PreferredTier), Timezone: c.Timezone, Locale: c.Locale, TopicsOptedOut: c.TopicsOptedOut,
		PausedUntil: c.PausedUntil, Attributes: c.Attributes, Status: string(c.Status), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

type tierJSON struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Rank        int    `json:"rank"`
	Selectable  bool   `json:"selectable"`
	outreach.Rule
	Version   int       `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MarshalJSON flattens the rule's fields into the tier object.
func (t tierJSON) MarshalJSON() ([]byte, error) {
	rule, err := t.Rule.MarshalJSON()
	if err != nil {
		return nil, err
	}
	head, err := marshalNoEscape(struct {
		Key         string    `json:"key"`
		Name        string    `json:"name"`
		Description string    `json:"description"`
		Rank        int       `json:"rank"`
		Selectable  bool      `json:"selectable"`
		Version     int       `json:"version"`
		UpdatedAt   time.Time `json:"updated_at"`
	}{t.Key, t.Name, t.Description, t.Rank, t.Selectable, t.Version, t.UpdatedAt})
	if err != nil {
		return nil, err
	}
	// Join {"key":…} and {"caps":…} into one object.
	out := append(head[:len(head)-1:len(head)-1], ',')
	return append(out, rule[1:]...), nil
}

func toTierJSON(t outreach.Tier) tierJSON {
	return tierJSON{Key: t.Key, Name: t.Name, Description: t.Description, Rank: t.Rank, Selectable: t.Selectable,
		Rule: t.Rule, Version: t.Version, UpdatedAt: t.UpdatedAt}
}

type campaignJSON struct {
	ID           int64                       `json:"id"`
	Name         string                      `json:"name"`
	Topic        *string                     `json:"topic"`
	Category     string                      `json:"category"`
	Priority     int                         `json:"priority"`
	Subject      string                      `json:"subject"`
	Text         string                      `json:"text"`
	HTML         string                      `json:"html"`
	Variants     map[string]outreach.Content `json:"variants"`
	Audience     outreach.Audience           `json:"audience"`
	SendAt       *time.Time                  `json:"send_at"`
	Cron         *string                     `json:"cron"`
	Timezone     *string                     `json:"timezone"`
	ExpiresAfter *outreach.Duration          `json:"expires_after"`
	Status       string                      `json:"status"`
	CreatedAt    time.Time                   `json:"created_at"`
	UpdatedAt    time.Time                   `json:"updated_at"`
}

func toCampaignJSON(c outreach.Campaign) campaignJSON {
	out := campaignJSON{ID: c.ID, Name: c.Name, Topic: strPtr(c.Topic), Category: string(c.Category), Priority: c.Priority,
		Subject: c.Content.Subject, Text: c.Content.Text, HTML: c.Content.HTML, Variants: c.Variants, Audience: c.Audience,
		SendAt: c.SendAt, Cron: strPtr(c.Cron), Timezone: strPtr(c.Timezone), Status: string(c.Status),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if out.Variants == nil {
		out.Variants = map[string]outreach.Content{}
	}
	if out.Audience.Tiers == nil {
		out.Audience.Tiers = []string{}
	}
	if out.Audience.Topics == nil {
		out.Audience.Topics = []string{}
	}
	if out.Audience.Attributes == nil {
		out.Audience.Attributes = map[string]string{}
	}
	if out.Audience.ContactIDs == nil {
		out.Audience.ContactIDs = []int64{}
	}
	if c.ExpiresAfter > 0 {
		d := outreach.Duration(c.ExpiresAfter)
		out.ExpiresAfter = &d
	}
	return out
}
