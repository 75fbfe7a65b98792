package prefcenter

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/token"
)

// Actors recorded in the timeline and audit log.
const (
	actorCustomer = "customer"
	actorOneClick = "one-click"
)

// pauses are the only pause lengths offered, by form value.
var pauses = map[string]time.Duration{"30d": 30 * 24 * time.Hour, "90d": 90 * 24 * time.Hour, "resume": 0}

// visit is a request whose token checked out, with its contact.
type visit struct {
	tok     string
	claims  token.Claims
	contact outreach.Contact
	ms      messages
	// preview: the token is a campaign preview's (a marketer looking at
	// the contact's page): the page is shown read-only and no POST
	// changes anything.
	preview bool
}

// open verifies the token in the path, for the page's purpose or its
// preview, and loads its contact. ok is false when the answer (a 404 or a
// 500 page) has been written already: every token failure, and a contact
// that no longer exists, look the same.
func (h *handler) open(c echo.Context, p token.Purpose) (v visit, ok bool, err error) {
	v.tok = c.Param("token")
	v.claims, err = h.Signer.Verify(v.tok, p)
	if err != nil {
		if v.claims, err = h.Signer.Verify(v.tok, p.Preview()); err != nil {
			return v, false, h.notFound(c)
		}
		v.preview = true
	}
	v.contact, err = h.Store.Contact(c.Request().Context(), v.claims.ContactID)
	if err != nil {
		if outreach.ErrorCode(err) == outreach.ENOTFOUND {
			return v, false, h.notFound(c)
		}
		return v, false, h.internal(c, "load contact", err)
	}
	if v.contact.Status == outreach.StatusErased {
		// Erased: the links in old mail lead nowhere, as if the contact
		// had never been.
		return v, false, h.notFound(c)
	}
	v.ms = lookup(v.contact.Locale)
	return v, true, nil
}

// internal logs err (with the operation, never the token) and answers 500.
func (h *handler) internal(c echo.Context, op string, err error) error {
	h.Log.Error("preference center", "op", op, "route", c.Path(), "error", err.Error())
	return h.message(c, http.StatusInternalServerError, lookup(""), "error.500")
}

func (h *handler) origin(v visit) postgres.PrefOrigin {
	return postgres.PrefOrigin{Actor: actorCustomer, CampaignID: v.claims.CampaignID}
}

// showPreferences is GET /p/{token}. It only reads.
func (h *handler) showPreferences(c echo.Context) error {
	v, ok, err := h.open(c, token.Preferences)
	if !ok {
		return err
	}
	ctx := c.Request().Context()
	tiers, topics, sup, err := h.lists(ctx, v.contact.Email)
	if err != nil {
		return h.internal(c, "load preferences", err)
	}
	ct := v.contact
	p := h.newPage(c, v.ms, v.ms.T("prefs.title"))
	p.Email = maskEmail(ct.Email)
	if !v.preview {
		p.CSRF = h.csrf.field(token.Preferences, v.tok)
	}
	p.Preview = v.preview
	p.Frequency = frequencyFor(v.ms, h.Company.Name, tiers, ct)
	for _, t := range topics {
		p.Topics = append(p.Topics, choice{Key: t.Key, Name: t.Name, Checked: !ct.OptedOut(t.Key)})
	}
	switch {
	case ct.Status == outreach.StatusBounced || sup == outreach.SuppressBounce:
		p.State = "blocked"
		p.Notices = append(p.Notices, notice{Text: v.ms.T("status.bounced", h.Company.Name), Warn: true})
	case ct.Status == outreach.StatusComplained || sup == outreach.SuppressComplaint:
		p.State = "blocked"
		p.Notices = append(p.Notices, notice{Text: v.ms.T("status.complained", h.Company.Name), Warn: true})
	case !outreach.CanResubscribe(ct.Status, sup):
		p.State = "blocked"
		p.Notices = append(p.Notices, notice{Text: v.ms.T("status.blocked", h.Company.Name), Warn: true})
	case ct.Status == outreach.StatusUnsubscribed || sup == outreach.SuppressUnsubscribe:
		p.State = "unsubscribed"
		p.Notices = append(p.Notices, notice{Text: v.ms.T("status.unsubscribed"), Warn: true})
	default:
		p.State = "active"
	}
	if ct.PausedUntil != nil && ct.PausedUntil.After(h.Clock.Now()) {
		p.Paused = true
		p.Notices = append(p.Notices, notice{Text: v.ms.T("status.paused", formatDate(v.ms, *ct.PausedUntil, ct.Timezone))})
	}
	return h.render(c, http.StatusOK, "preferences", p)
}

func (h *handler) lists(ctx context.Context, email string) ([]outreach.Tier, []outreach.Topic, outreach.SuppressionReason, error) {
	tiers, err := h.Store.Tiers(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	topics, err := h.Store.Topics(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	sup, err := h.Store.SuppressionOf(ctx, email)
	return tiers, topics, sup, err
}

// changePreferences is POST /p/{token}: one of save (frequency and topics),
// pause (30d, 90d or resume), unsubscribe, resubscribe. Anything malformed
// is a 400 and changes nothing.
func (h *handler) changePreferences(c echo.Context) error {
	v, ok, err := h.open(c, token.Preferences)
	if !ok {
		return err
	}
	if v.preview {
		return h.previewRefused(c, v)
	}
	form, ok, err := h.checkedForm(c, v, token.Preferences)
	if !ok {
		return err
	}
	ctx := c.Request().Context()
	tiers, topics, _, err := h.lists(ctx, v.contact.Email)
	if err != nil {
		return h.internal(c, "load preferences", err)
	}
	var ch postgres.PrefChange
	switch form.Get("action") {
	case "save":
		freq, optedOut, bad := parseSave(form, topics)
		if bad != "" {
			return h.badRequest(c, v.ms, bad)
		}
		ch, err = h.Store.SetPreferences(ctx, v.contact.ID, h.origin(v), freq, optedOut)
	case "pause":
		d, known := pauses[form.Get("pause")]
		if !known || len(form["pause"]) != 1 {
			return h.badRequest(c, v.ms, "bad.pause")
		}
		ch, err = h.Store.Pause(ctx, v.contact.ID, h.origin(v), d)
	case "unsubscribe":
		ch, err = h.Store.Unsubscribe(ctx, v.contact.ID, h.origin(v))
	case "resubscribe":
		ch, err = h.Store.Resubscribe(ctx, v.contact.ID, h.origin(v))
	default:
		return h.badRequest(c, v.ms, "bad.action")
	}
	if err != nil {
		return h.changeFailed(c, v.ms, err)
	}
	p := h.newPage(c, v.ms, v.ms.T("done.title"))
	p.Changes = describe(v.ms, ch, tiers, topics)
	p.BackURL = v.tok // relative to /p/: the same page, wherever it is mounted
	return h.render(c, http.StatusOK, "done", p)
}

// parseSave reads the save form: "frequency" (one selectable tier key;
// absent leaves it unchanged) and "topic" (each topic to keep receiving;
// the rest are opted out of). bad names the message for invalid input.
func parseSave(form url.Values, topics []outreach.Topic) (freq string, optedOut []string, bad string) {
	if vals, present := form["frequency"]; present {
		if len(vals) != 1 || vals[0] == "" {
			return "", nil, "bad.frequency"
		}
		freq = vals[0]
	}
	keep := form["topic"]
	for _, k := range keep {
		if !slices.ContainsFunc(topics, func(t outreach.Topic) bool { return t.Key == k }) {
			return "", nil, "bad.topics"
		}
	}
	optedOut = []string{}
	for _, t := range topics {
		if !slices.Contains(keep, t.Key) {
			optedOut = append(optedOut, t.Key)
		}
	}
	return freq, optedOut, ""
}

// checkedForm reads a form POST from one of our pages: same site, and the
// CSRF field matching this token. ok is false when a 4xx was written.
func (h *handler) checkedForm(c echo.Context, v visit, p token.Purpose) (url.Values, bool, error) {
	if !sameSite(c.Request(), h.PublicURL) {
		return nil, false, h.message(c, http.StatusForbidden, v.ms, "error.403")
	}
	form, err := postForm(c)
	if err != nil {
		return nil, false, h.badRequest(c, v.ms, "bad.form")
	}
	if !h.csrf.valid(p, v.tok, form.Get("csrf")) {
		return nil, false, h.message(c, http.StatusForbidden, v.ms, "error.403")
	}
	return form, true, nil
}

// postForm reads the body's fields only, URL-encoded or multipart (RFC 8058
// allows both). Query parameters are ignored: a link someone could be made
// to click must not be able to fill in a form.
func postForm(c echo.Context) (url.Values, error) {
	if _, err := c.FormParams(); err != nil { // parses either encoding
		return nil, err
	}
	return c.Request().PostForm, nil
}

func (h *handler) badRequest(c echo.Context, ms messages, id string) error {
	return h.message(c, http.StatusBadRequest, ms, "error.400", ms.T(id))
}

// changeFailed maps a store error to a page: the one place domain errors
// become statuses for these pages.
func (h *handler) changeFailed(c echo.Context, ms messages, err error) error {
	var oe *outreach.Error
	if errors.As(err, &oe) {
		switch oe.Code {
		case outreach.EINVALID:
			id := "bad.form"
			if len(oe.Fields) > 0 {
				switch oe.Fields[0].Field {
				case "frequency":
					id = "bad.frequency"
				case "topics":
					id = "bad.topics"
				}
			}
			return h.badRequest(c, ms, id)
		case outreach.ENOTFOUND:
			return h.notFound(c)
		case outreach.ECONFLICT:
			return h.message(c, http.StatusConflict, ms, "error.409")
		}
	}
	return h.internal(c, "change preferences", err)
}

// showUnsubscribe is GET /u/{token}. It only asks: the button POSTs.
func (h *handler) showUnsubscribe(c echo.Context) error {
	v, ok, err := h.open(c, token.Unsubscribe)
	if !ok {
		return err
	}
	sup, err := h.Store.SuppressionOf(c.Request().Context(), v.contact.Email)
	if err != nil {
		return h.internal(c, "load suppression", err)
	}
	p := h.newPage(c, v.ms, v.ms.T("unsubpage.title", h.Company.Name))
	p.Email = maskEmail(v.contact.Email)
	if !v.preview {
		p.CSRF = h.csrf.field(token.Unsubscribe, v.tok)
	}
	p.Preview = v.preview
	p.State = "active"
	if v.contact.Status != outreach.StatusActive || sup != "" {
		p.State = "unsubscribed"
	}
	p.PrefsURL = h.prefsLink(v)
	return h.render(c, http.StatusOK, "unsubscribe", p)
}

// prefsLink is the preference center for the same contact and campaign
// (its preview, from a preview), relative to /u/ so it works wherever the
// pages are mounted.
func (h *handler) prefsLink(v visit) string {
	p := token.Preferences
	if v.preview {
		p = token.PreviewPreferences
	}
	return "../p/" + h.Signer.Sign(token.Claims{Purpose: p, ContactID: v.claims.ContactID, CampaignID: v.claims.CampaignID})
}

// previewRefused answers a POST through a preview link: 403, nothing
// changed, whatever the form says (a one-click POST included).
func (h *handler) previewRefused(c echo.Context, v visit) error {
	return h.message(c, http.StatusForbidden, v.ms, "error.preview")
}

// unsubscribe is POST /u/{token}. With the body List-Unsubscribe=One-Click
// it is RFC 8058 one-click: a mailbox provider acting for the recipient,
// with no cookies and no page, so no CSRF field is asked for, and the answer
// is a 200 with no redirect. Otherwise it is the button on our own page,
// checked like every other form.
func (h *handler) unsubscribe(c echo.Context) error {
	v, ok, err := h.open(c, token.Unsubscribe)
	if !ok {
		return err
	}
	if v.preview {
		return h.previewRefused(c, v)
	}
	form, err := postForm(c)
	if err != nil {
		return h.badRequest(c, v.ms, "bad.form")
	}
	o := postgres.PrefOrigin{Actor: actorOneClick, CampaignID: v.claims.CampaignID}
	oneClick := form.Get("List-Unsubscribe") == "One-Click"
	if !oneClick {
		if _, ok, err := h.checkedForm(c, v, token.Unsubscribe); !ok {
			return err
		}
		o.Actor = actorCustomer
	}
	ch, err := h.Store.Unsubscribe(c.Request().Context(), v.contact.ID, o)
	if err != nil {
		return h.changeFailed(c, v.ms, err)
	}
	p := h.newPage(c, v.ms, v.ms.T("done.unsub"))
	p.Changes = describe(v.ms, ch, nil, nil)
	if !oneClick {
		p.BackURL = h.prefsLink(v)
	}
	return h.render(c, http.StatusOK, "done", p)
}
