package campaign

import (
	"context"
	"errors"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/render"
)

// Preview is a campaign rendered for one contact: what they would receive.
type Preview struct {
	ContactID      int64
	Email          string
	Tier           string // the effective tier whose variant was rendered
	Subject        string
	Text           string
	HTML           string
	PreferencesURL string
	UnsubscribeURL string
	Sample         bool // rendered for a made-up sample contact
}

// sampleContact is who a preview is rendered for when no contact is named.
var sampleContact = outreach.Contact{Email: "ada@example.com", Name: "Ada Lovelace", Locale: "en", Tier: "medium",
	Attributes: map[string]any{}}

// Preview renders the campaign for a contact (with the contact's effective
// tier's variant), or for a sample contact when contactID is zero.
// Template errors come back as field errors with their line. The links in
// it are preview links: they open the contact's pages read-only and can
// change nothing, so a preview never lets its viewer act as the customer.
// Previewing a real contact is written to the audit log (actor, campaign,
// contact id).
func (s *Service) Preview(ctx context.Context, actor string, campaignID, contactID int64) (Preview, error) {
	camp, err := s.store.Campaign(ctx, campaignID)
	if err != nil {
		return Preview{}, err
	}
	contact := sampleContact
	if contactID != 0 {
		if contact, err = s.store.Contact(ctx, contactID); err != nil {
			return Preview{}, err
		}
	}
	p, err := s.planner(ctx)
	if err != nil {
		return Preview{}, err
	}
	tier := contact.Tier
	if t, ok := p.EffectiveTier(contact); ok {
		tier = t.Key
	}
	prefix := ""
	if _, ok := camp.Variants[tier]; ok {
		prefix = "variants." + tier + "."
	}
	comp, errs := render.Compile(camp.ContentFor(tier), prefix)
	if len(errs) > 0 {
		return Preview{}, outreach.Invalid(templateFields(errs)...)
	}
	out := Preview{ContactID: contact.ID, Email: contact.Email, Tier: tier, Sample: contactID == 0,
		PreferencesURL: s.cfg.Links.PreviewPreferences(contact.ID, camp.ID), UnsubscribeURL: s.cfg.Links.PreviewUnsubscribe(contact.ID, camp.ID)}
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
	if contactID != 0 {
		if err := s.store.AuditPreview(ctx, actor, camp.ID, contact.ID); err != nil {
			return Preview{}, err
		}
	}
	return out, nil
}
