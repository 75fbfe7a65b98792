package jobs

import (
	"context"
	"errors"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/render"
)

// Preview is a campaign rendered for one contact: what they would receive.
type Preview struct {
	ContactID      int64  `json:"contact_id"`
	Email          string `json:"email"`
	Tier           string `json:"tier"`
	Subject        string `json:"subject"`
	Text           string `json:"text"`
	HTML           string `json:"html"`
	PreferencesURL string `json:"preferences_url"`
	UnsubscribeURL string `json:"unsubscribe_url"`
	Sample         bool   `json:"sample"`
}

// Preview renders the campaign for a contact (with the contact's effective
// tier's variant and real signed links), or for a sample contact when
// contactID is zero. Template errors come back as field errors with the line.
func (l *Launcher) Preview(ctx context.Context, campaignID, contactID int64) (Preview, error) {
	d := l.Deps
	camp, err := l.Store.Campaign(ctx, campaignID)
	if err != nil {
		return Preview{}, err
	}
	contact := outreach.Contact{ID: 0, Email: "ada@example.com", Name: "Ada Lovelace", Locale: "en", Tier: "medium",
		Attributes: map[string]any{}}
	sample := contactID == 0
	if !sample {
		if contact, err = l.Store.Contact(ctx, contactID); err != nil {
			return Preview{}, err
		}
	}
	tiers, err := l.Store.Tiers(ctx)
	if err != nil {
		return Preview{}, err
	}
	p := d.planner(tiers)
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
		return Preview{}, templateErrors(errs)
	}
	out := Preview{ContactID: contact.ID, Email: contact.Email, Tier: tier, Sample: sample,
		PreferencesURL: d.PreferencesURL(contact.ID, camp.ID), UnsubscribeURL: d.UnsubscribeURL(contact.ID, camp.ID)}
	msg, err := d.Renderer.Render(comp, render.Data{
		Contact: render.ContactData{ID: contact.ID, Name: contact.Name, Email: contact.Email, Locale: contact.Locale,
			Tier: tier, Attributes: contact.Attributes},
		Campaign:       render.CampaignData{ID: camp.ID, Name: camp.Name, Topic: camp.Topic},
		PreferencesURL: out.PreferencesURL, UnsubscribeURL: out.UnsubscribeURL,
	})
	if err != nil {
		var te *render.TemplateError
		if errors.As(err, &te) {
			te.Field = prefix + te.Field
			return Preview{}, templateErrors([]*render.TemplateError{te})
		}
		return Preview{}, err
	}
	out.Subject, out.Text, out.HTML = msg.Subject, msg.Text, msg.HTML
	return out, nil
}

func templateErrors(errs []*render.TemplateError) error {
	fields := make([]outreach.FieldError, len(errs))
	for i, e := range errs {
		fields[i] = outreach.FieldError{Field: e.Field, Message: e.Error()[len(e.Field)+2:]}
	}
	return outreach.Invalid(fields...)
}
