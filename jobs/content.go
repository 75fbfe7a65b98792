package jobs

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/render"
)

// contentCache keeps compiled templates per campaign version and tier, so a
// 100,000-message campaign is parsed once, not 100,000 times.
type contentCache struct {
	mu sync.Mutex
	m  map[contentKey]*render.Compiled
}

// contentKey is a campaign version and tier (a struct, not a formatted
// string: the lookup is made for every message).
type contentKey struct {
	campaign, version int64
	tier              string
}

func newContentCache() *contentCache { return &contentCache{m: map[contentKey]*render.Compiled{}} }

func (c *contentCache) get(camp outreach.Campaign, tier string) (*render.Compiled, error) {
	key := contentKey{camp.ID, camp.UpdatedAt.UnixNano(), tier}
	c.mu.Lock()
	defer c.mu.Unlock()
	if comp, ok := c.m[key]; ok {
		return comp, nil
	}
	comp, errs := render.Compile(camp.ContentFor(tier), "")
	if len(errs) > 0 {
		return nil, errs[0]
	}
	if len(c.m) > 1000 {
		clear(c.m)
	}
	c.m[key] = comp
	return comp, nil
}

// envelope renders one delivery's message, within the renderer's bounds.
// The envelope's bodies are the parts' buffers: the caller releases them
// once the message went.
func (w *SendWorker) envelope(ctx context.Context, camp outreach.Campaign, contact outreach.Contact, it postgres.SendItem) (*mailer.Envelope, render.Parts, error) {
	comp, err := w.cache.get(camp, it.Tier)
	if err != nil {
		return nil, render.Parts{}, err
	}
	m := w.cfg.Mail
	unsub := m.Links.Unsubscribe(contact.ID, camp.ID)
	data := render.Data{
		Contact: render.ContactData{ID: contact.ID, Name: contact.Name, Email: contact.Email, Locale: contact.Locale,
			Tier: it.Tier, Attributes: contact.Attributes},
		Campaign:       render.CampaignData{ID: camp.ID, Name: camp.Name, Topic: camp.Topic},
		PreferencesURL: m.Links.Preferences(contact.ID, camp.ID),
		UnsubscribeURL: unsub,
	}
	msg, err := m.Renderer.RenderParts(ctx, comp, data)
	if err != nil {
		return nil, render.Parts{}, err
	}
	env := &mailer.Envelope{
		From: m.From, To: contact.Email, ToName: strings.TrimSpace(contact.Name),
		Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML,
		MessageID: mailer.MessageID(it.ID, camp.ID, m.Installation, w.domain()), Date: w.cfg.Clock.Now(),
	}
	if m.BounceDomain != "" {
		env.Sender = "bounces+" + m.Links.Signer.BounceTag(it.ID) + "@" + m.BounceDomain
	}
	if camp.Category == outreach.Transactional {
		return env, msg, nil // RFC 8058 is for bulk mail; receipts carry no unsubscribe
	}
	env.Headers = map[string]string{}
	for _, h := range render.BulkHeaders(camp.ID, camp.Topic, unsub, m.ListIDDomain, m.FeedbackSender) {
		env.Headers[h.Name] = h.Value
	}
	return env, msg, nil
}

// cadenceEvent is a message sent (or about to be) at t, for the caps.
func cadenceEvent(t time.Time) cadence.Event { return cadence.Event{At: t} }

// templateRule is what a delivery whose message could not be rendered
// records: the bound it ran into ("template: the html part is larger than
// 512 KiB (TEMPLATE_MAX_BYTES)") or the template's error.
func templateRule(err error) string {
	var le *render.LimitError
	if errors.As(err, &le) {
		return "template: " + le.Error()
	}
	return "template: " + err.Error()
}
