package campaign

import (
	"context"
	"strings"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/schedule"
)

// Draft is a campaign as a marketer writes it, through the API or the
// console. Nil Priority means the default (50); nil ExpiresAfter means
// none.
type Draft struct {
	Name         string
	Topic        string
	Category     outreach.Category // "" means marketing
	Priority     *int
	Content      outreach.Content
	Variants     map[string]outreach.Content
	Audience     outreach.Audience
	SendAt       *time.Time
	Cron         string
	Timezone     string
	ExpiresAfter *time.Duration
}

// DefaultPriority is a campaign's priority when its draft sets none.
const DefaultPriority = 50

// DraftOf is the draft a stored campaign was made from, the base a PATCH
// changes.
func DraftOf(c outreach.Campaign) Draft {
	d := Draft{Name: c.Name, Topic: c.Topic, Category: c.Category, Priority: &c.Priority, Content: c.Content,
		Variants: c.Variants, Audience: c.Audience, SendAt: c.SendAt, Cron: c.Cron, Timezone: c.Timezone}
	if c.ExpiresAfter > 0 {
		e := c.ExpiresAfter
		d.ExpiresAfter = &e
	}
	return d
}

// Check validates a draft against the tiers and topics that exist, parses
// its schedule and renders every template once, so nothing is stored that
// could not be sent. Every problem comes back as a field error; template
// errors carry their line.
func (s *Service) Check(ctx context.Context, d Draft) (outreach.Campaign, error) {
	c := outreach.Campaign{Name: strings.TrimSpace(d.Name), Topic: d.Topic, Category: d.Category, Priority: DefaultPriority,
		Content: d.Content, Variants: d.Variants, Audience: d.Audience, SendAt: d.SendAt, Cron: strings.TrimSpace(d.Cron),
		Timezone: d.Timezone}
	if c.Category == "" {
		c.Category = outreach.Marketing
	}
	if d.Priority != nil {
		c.Priority = *d.Priority
	}
	known, err := s.catalog(ctx)
	if err != nil {
		return c, err
	}
	errs := c.Validate(known)
	errs = append(errs, templateFields(s.cfg.Renderer.Check(ctx, c.Content, ""))...)
	for key, v := range c.Variants {
		if known.Tiers[key] {
			errs = append(errs, templateFields(s.cfg.Renderer.Check(ctx, v, "variants."+key+"."))...)
		}
	}
	if c.Cron != "" {
		if _, err := schedule.Parse(c.Cron, c.Timezone); err != nil {
			errs = append(errs, outreach.FieldError{Field: "cron", Message: "invalid cron expression: " + err.Error()})
		}
	}
	if d.ExpiresAfter != nil {
		c.ExpiresAfter = *d.ExpiresAfter
		if c.ExpiresAfter <= 0 {
			errs = append(errs, outreach.FieldError{Field: "expires_after", Message: "must be a positive duration such as \"3d\""})
		}
	}
	if len(errs) > 0 {
		return c, outreach.Invalid(errs...)
	}
	return c, nil
}

// catalog is the tiers and topics a campaign may name.
func (s *Service) catalog(ctx context.Context) (outreach.Catalog, error) {
	tiers, err := s.store.Tiers(ctx)
	if err != nil {
		return outreach.Catalog{}, err
	}
	topics, err := s.store.Topics(ctx)
	if err != nil {
		return outreach.Catalog{}, err
	}
	known := outreach.Catalog{Tiers: map[string]bool{}, Topics: map[string]bool{}}
	for _, t := range tiers {
		known.Tiers[t.Key] = true
	}
	for _, t := range topics {
		known.Topics[t.Key] = true
	}
	return known, nil
}

func templateFields(errs []*render.TemplateError) []outreach.FieldError {
	out := make([]outreach.FieldError, len(errs))
	for i, e := range errs {
		out[i] = outreach.FieldError{Field: e.Field, Message: e.Error()[len(e.Field)+2:]}
	}
	return out
}

// Create checks a draft and stores it as a draft campaign, under an
// Idempotency-Key when idem is set (replayed: a retried request got the
// campaign its first try created).
func (s *Service) Create(ctx context.Context, actor string, d Draft, idem *postgres.Idem) (c outreach.Campaign, replayed bool, err error) {
	c, err = s.Check(ctx, d)
	if err != nil {
		return c, false, err
	}
	return s.store.CreateCampaignIdem(ctx, actor, c, idem)
}

// Update replaces a draft campaign with what change makes of its draft;
// only drafts can be changed.
func (s *Service) Update(ctx context.Context, actor string, id int64, change func(*Draft) error) (outreach.Campaign, error) {
	cur, err := s.store.Campaign(ctx, id)
	if err != nil {
		return cur, err
	}
	d := DraftOf(cur)
	if err := change(&d); err != nil {
		return cur, err
	}
	c, err := s.Check(ctx, d)
	if err != nil {
		return c, err
	}
	c.ID = id
	return s.store.UpdateCampaign(ctx, actor, c)
}
