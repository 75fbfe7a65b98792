package jobs

import (
	"fmt"
	"strings"
	"sync"

	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
	"github.com/rapport-dev/rapport/internal/render"
)

// contentCache keeps compiled templates per campaign version and tier, so a
// 100,000-message campaign is parsed once, not 100,000 times.
type contentCache struct {
	mu sync.Mutex
	m  map[string]*render.Compiled
}

func newContentCache() *contentCache { return &contentCache{m: map[string]*render.Compiled{}} }

func (c *contentCache) get(camp outreach.Campaign, tier string) (*render.Compiled, error) {
	key := fmt.Sprintf("%d/%d/%s", camp.ID, camp.UpdatedAt.UnixNano(), tier)
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

// envelope renders one delivery's message.
func (w *SendWorker) envelope(camp outreach.Campaign, contact outreach.Contact, r dbsqlc.SendLoadRow) (*mailer.Envelope, error) {
	comp, err := w.cache.get(camp, r.Tier)
	if err != nil {
		return nil, err
	}
	unsub := w.d.UnsubscribeURL(contact.ID, camp.ID)
	data := render.Data{
		Contact: render.ContactData{ID: contact.ID, Name: contact.Name, Email: contact.Email, Locale: contact.Locale,
			Tier: r.Tier, Attributes: contact.Attributes},
		Campaign:       render.CampaignData{ID: camp.ID, Name: camp.Name, Topic: camp.Topic},
		PreferencesURL: w.d.PreferencesURL(contact.ID, camp.ID),
		UnsubscribeURL: unsub,
	}
	msg, err := w.d.Renderer.Render(comp, data)
	if err != nil {
		return nil, err
	}
	headers := map[string]string{
		"List-Unsubscribe":      "<" + unsub + ">",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	}
	if camp.Category == outreach.Transactional {
		headers = nil // RFC 8058 is for bulk mail; receipts carry no unsubscribe
	} else {
		headers["Precedence"] = "bulk"
	}
	return &mailer.Envelope{
		From: w.d.From, To: contact.Email, ToName: strings.TrimSpace(contact.Name),
		Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML,
		MessageID: MessageID(r.ID, camp.ID, w.domain()), Headers: headers, Date: w.d.Clock.Now(),
	}, nil
}
