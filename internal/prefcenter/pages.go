package prefcenter

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/render"
)

// page is what every template sees. Fields a page does not use stay zero.
type page struct {
	messages
	Lang    string
	Nonce   string
	Title   string
	Company render.Company

	Email     string // masked: the link may have been forwarded
	CSRF      string
	Preview   bool   // a campaign preview's link: read-only, every control disabled
	State     string // active, unsubscribed or blocked
	Paused    bool
	Notices   []notice
	Frequency frequency
	Topics    []choice
	Changes   []string
	Lines     []string
	BackURL   string
	PrefsURL  string
}

type notice struct {
	Text string
	Warn bool
}

// choice is one radio button or checkbox. A frequency's also says what
// it means (Meaning) and, when it applies now or is the customer's, so
// (Mark).
type choice struct {
	Key, Name     string
	Checked       bool
	Meaning, Mark string
}

func (h *handler) newPage(c echo.Context, ms messages, title string) *page {
	nonce, _ := c.Get(nonceKey).(string)
	return &page{messages: ms, Lang: ms.lang, Nonce: nonce, Title: title, Company: h.Company}
}

// render writes a page. A template error is a defect: it is logged and the
// client gets a bare 500, since the error page itself may be what failed.
func (h *handler) render(c echo.Context, status int, name string, p *page) error {
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, name, p); err != nil {
		h.Log.Error("render page", "page", name, "error", err.Error())
		return c.String(http.StatusInternalServerError, "internal error")
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// message answers with a short page titled by id+".title" and saying
// id+".text" followed by extra lines.
func (h *handler) message(c echo.Context, status int, ms messages, id string, extra ...string) error {
	p := h.newPage(c, ms, ms.T(id+".title"))
	text := ms.T(id + ".text")
	if strings.Contains(text, "%s") {
		text = ms.T(id+".text", h.Company.Name)
	}
	p.Lines = append([]string{text}, extra...)
	return h.render(c, status, "message", p)
}

func (h *handler) notFound(c echo.Context) error {
	return h.message(c, http.StatusNotFound, lookup(""), "error.404")
}

// maskEmail shows enough of an address for its owner to recognise it and
// little to anyone a link was forwarded to: "a•••@example.com".
func maskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "•••"
	}
	r := []rune(local)
	return string(r[0]) + "•••@" + domain
}

// formatDate shows a day in the contact's time zone and language.
func formatDate(ms messages, t time.Time, zone string) string {
	loc, ok := outreach.LoadZone(zone)
	if !ok {
		loc = time.UTC
	}
	return t.In(loc).Format(ms.T("date_format"))
}

// describe lists, in the customer's words, exactly what a change did.
func describe(ms messages, ch postgres.PrefChange, tiers []outreach.Tier, topics []outreach.Topic) []string {
	b, a := ch.Before, ch.After
	var out []string
	tierName := func(key string) string {
		for _, t := range tiers {
			if t.Key == key {
				return t.Name
			}
		}
		return key
	}
	if b.PreferredTier != a.PreferredTier {
		prev := b.PreferredTier
		if prev == "" {
			prev = ch.Contact.Tier
		}
		if prev == a.PreferredTier || a.PreferredTier == "" {
			out = append(out, ms.T("change.frequency_on", tierName(a.PreferredTier)))
		} else {
			out = append(out, ms.T("change.frequency", tierName(a.PreferredTier), tierName(prev)))
		}
	}
	for _, t := range topics {
		was, is := slices.Contains(b.TopicsOptedOut, t.Key), slices.Contains(a.TopicsOptedOut, t.Key)
		switch {
		case !was && is:
			out = append(out, ms.T("change.topic_off", t.Name))
		case was && !is:
			out = append(out, ms.T("change.topic_on", t.Name))
		}
	}
	if !timeEqual(b.PausedUntil, a.PausedUntil) {
		if a.PausedUntil != nil {
			out = append(out, ms.T("change.paused", formatDate(ms, *a.PausedUntil, ch.Contact.Timezone)))
		} else {
			out = append(out, ms.T("change.resumed"))
		}
	}
	if b.Status != a.Status || b.Suppression != a.Suppression {
		switch {
		case a.Status == outreach.StatusActive && b.Status != outreach.StatusActive:
			out = append(out, ms.T("change.resubscribed"))
		case a.Status == outreach.StatusUnsubscribed || a.Suppression == outreach.SuppressUnsubscribe:
			out = append(out, ms.T("change.unsubscribed"))
		}
	}
	return out
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
