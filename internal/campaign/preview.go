package campaign

import (
	"context"
	"errors"
	"strings"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/render"
)

// Preview is a campaign rendered for one contact: what they would receive.
type Preview struct {
	ContactID int64
	Email     string
	// Tier is the tier whose variant was rendered: the contact's effective
	// tier, or the one asked for; ContactTier is the contact's own
	// effective tier.
	Tier, ContactTier string
	// Variant reports whether Tier has a variant of its own (else the
	// default content was rendered).
	Variant        bool
	Subject        string
	Text           string
	HTML           string
	PreferencesURL string
	UnsubscribeURL string
	// Headers are the message's headers as the send job writes them, in
	// order; per-delivery values (Message-ID, the VERP sender) are
	// described, not made up.
	Headers []render.Header
	Sample  bool // rendered for a made-up sample contact
}

// PreviewRequest says for whom: ContactID 0 is a made-up sample contact;
// Tier, when set, renders that tier's variant instead of the contact's
// own.
type PreviewRequest struct {
	ContactID int64
	Tier      string
}

// sampleContact is who a preview is rendered for when no contact is named.
var sampleContact = outreach.Contact{Email: "ada@example.com", Name: "Ada Lovelace", Locale: "en", Tier: "medium",
	Attributes: map[string]any{}}

// Preview renders the campaign for a contact (with the contact's effective
// tier's variant, or req.Tier's), or for a sample contact when
// req.ContactID is zero. Template errors come back as field errors with
// their line. The links in it are preview links: they open the contact's
// pages read-only and can change nothing, so a preview never lets its
// viewer act as the customer. Previewing a real contact shows a person's
// data to whoever asked, so it is written to the audit log (actor,
// campaign, contact id).
func (s *Service) Preview(ctx context.Context, actor string, campaignID int64, req PreviewRequest) (Preview, error) {
	camp, err := s.store.Campaign(ctx, campaignID)
	if err != nil {
		return Preview{}, err
	}
	contact := sampleContact
	if req.ContactID != 0 {
		if contact, err = s.store.Contact(ctx, req.ContactID); err != nil {
			return Preview{}, err
		}
	}
	p, err := s.planner(ctx)
	if err != nil {
		return Preview{}, err
	}
	own := contact.Tier
	if t, ok := p.EffectiveTier(contact); ok {
		own = t.Key
	}
	tier := own
	if req.Tier != "" {
		if _, ok := p.Tiers[req.Tier]; !ok {
			return Preview{}, outreach.Invalid(outreach.FieldError{Field: "tier", Message: "no such tier: " + req.Tier})
		}
		tier = req.Tier
	}
	prefix := ""
	_, variant := camp.Variants[tier]
	if variant {
		prefix = "variants." + tier + "."
	}
	comp, errs := render.Compile(camp.ContentFor(tier), prefix)
	if len(errs) > 0 {
		return Preview{}, outreach.Invalid(templateFields(errs)...)
	}
	out := Preview{ContactID: contact.ID, Email: contact.Email, Tier: tier, ContactTier: own, Variant: variant,
		Sample: req.ContactID == 0, PreferencesURL: s.cfg.Links.PreviewPreferences(contact.ID, camp.ID),
		UnsubscribeURL: s.cfg.Links.PreviewUnsubscribe(contact.ID, camp.ID)}
	msg, err := s.cfg.Renderer.Render(ctx, comp, render.Data{
		Contact: render.ContactData{ID: contact.ID, Name: contact.Name, Email: contact.Email, Locale: contact.Locale,
			Tier: tier, Attributes: contact.Attributes},
		Campaign:       render.CampaignData{ID: camp.ID, Name: camp.Name, Topic: camp.Topic},
		PreferencesURL: out.PreferencesURL, UnsubscribeURL: out.UnsubscribeURL,
	})
	if err != nil {
		var te *render.TemplateError
		if errors.As(err, &te) {
			te.Field = prefix + te.Field
			return Preview{}, outreach.Invalid(templateFields([]*render.TemplateError{te})...)
		}
		return Preview{}, err
	}
	out.Subject, out.Text, out.HTML = msg.Subject, msg.Text, msg.HTML
	out.Headers = s.headers(camp, contact, out)
	if req.ContactID != 0 {
		if err := s.store.AuditPreview(ctx, actor, camp.ID, contact.ID); err != nil {
			return Preview{}, err
		}
	}
	return out, nil
}

// headers are the message's headers in the order a mail client shows
// them, as the send job writes them.
func (s *Service) headers(camp outreach.Campaign, contact outreach.Contact, p Preview) []render.Header {
	m := s.cfg.Mail
	to := contact.Email
	if name := strings.TrimSpace(contact.Name); name != "" {
		to = name + " <" + contact.Email + ">"
	}
	h := []render.Header{{Name: "From", Value: m.From}, {Name: "To", Value: to}, {Name: "Subject", Value: p.Subject},
		{Name: "Message-ID", Value: "(unique for each delivery, given when it is sent)"}}
	if m.BounceDomain != "" {
		h = append(h, render.Header{Name: "Return-Path", Value: "bounces+(signed delivery tag)@" + m.BounceDomain})
	}
	if camp.Category == outreach.Transactional {
		return h
	}
	return append(h, render.BulkHeaders(camp.ID, camp.Topic, p.UnsubscribeURL, m.ListIDDomain, m.FeedbackSender)...)
}
