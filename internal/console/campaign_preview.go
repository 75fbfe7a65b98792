package console

import (
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// The preview renders the campaign with campaign.Service.Preview — the
// content, links and headers the send job would use — for the sample
// contact or one the marketer finds by address, and for each tier's
// variant. The HTML part is shown in a sandboxed iframe (no scripts, no
// forms, no same-origin) whose document comes from its own route with its
// own strict Content-Security-Policy; the page keeps it in the session,
// so a preview is rendered (and, for a real contact, audited) once.

// Session keys of the last preview's HTML part.
const (
	keyPreviewKey  = "preview_key"
	keyPreviewHTML = "preview_html"
)

// previewCSP is the iframe document's policy: the inline styles and
// remote images an email uses, nothing else — no script, no form, no
// plugin — framed only by the console, and sandboxed on its own too.
const previewCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; font-src https: data:; " +
	"form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox"

// previewTier is one choice of variant.
type previewTier struct {
	Label, URL       string
	Variant, Current bool
}

// previewData is the preview page's content.
type previewData struct {
	Campaign campaignRow
	Q        string
	Searched bool
	Matches  []outreach.Contact
	Contact  *outreach.Contact // nil: the sample contact
	Tiers    []previewTier
	Preview  *campaign.Preview
	HTMLURL  string
	Problems []string // template errors, with their field and line
	Self     string   // this page with the contact, for the tier links
}

// preview is GET /console/campaigns/:id/preview?q=&contact=&tier=
// (marketer, as the API's preview).
func (c *Console) preview(ec echo.Context) error {
	camp, err := c.loadCampaign(ec)
	if err != nil {
		return err
	}
	ctx := ec.Request().Context()
	d := previewData{Campaign: c.campaignRow(c.zone(ec), camp), Q: ec.QueryParam("q")}
	if d.Q != "" {
		d.Searched = true
		if d.Matches, err = c.Store.ContactsByEmail(ctx, d.Q, 10); err != nil {
			return err
		}
	}
	req := campaign.PreviewRequest{Tier: ec.QueryParam("tier")}
	if s := ec.QueryParam("contact"); s != "" {
		if req.ContactID, err = strconv.ParseInt(s, 10, 64); err != nil || req.ContactID <= 0 {
			return badRequest("That is not a contact id.")
		}
		ct, err := c.Store.Contact(ctx, req.ContactID)
		if err != nil {
			return err
		}
		d.Contact = &ct
	}
	base := campaignPath(camp.ID, "preview")
	q := url.Values{}
	if req.ContactID != 0 {
		q.Set("contact", strconv.FormatInt(req.ContactID, 10))
	}
	d.Self = base + "?" + q.Encode()
	tiers, err := c.Store.Tiers(ctx)
	if err != nil {
		return err
	}
	own := "Their own tier"
	if d.Contact == nil {
		own = "Sample contact's tier (medium)"
	}
	d.Tiers = append(d.Tiers, previewTier{Label: own, URL: d.Self, Current: req.Tier == ""})
	for _, t := range tiers {
		tq := url.Values{"tier": {t.Key}}
		for k, v := range q {
			tq[k] = v
		}
		_, variant := camp.Variants[t.Key]
		d.Tiers = append(d.Tiers, previewTier{Label: t.Name + " (" + t.Key + ")", URL: base + "?" + tq.Encode(), Variant: variant, Current: req.Tier == t.Key})
	}
	p, err := c.Campaigns.Preview(ctx, actor(ec), camp.ID, req)
	var oe *outreach.Error
	switch {
	case errors.As(err, &oe) && oe.Code == outreach.EINVALID:
		for _, fe := range oe.Fields {
			d.Problems = append(d.Problems, fe.Field+": "+fe.Message)
		}
		if len(oe.Fields) == 0 {
			d.Problems = append(d.Problems, oe.Message)
		}
	case err != nil:
		return err
	default:
		d.Preview = &p
		key := rand.Text()
		c.sessions.Put(ctx, keyPreviewKey, key)
		c.sessions.Put(ctx, keyPreviewHTML, p.HTML)
		d.HTMLURL = base + "/html?k=" + key
	}
	status := http.StatusOK
	if d.Problems != nil {
		status = http.StatusUnprocessableEntity
	}
	return c.render(ec, status, "campaign-preview", &View{Title: "Preview “" + camp.Name + "”", Data: d})
}

// previewHTML is GET /console/campaigns/:id/preview/html?k= (marketer):
// the last preview's HTML part, for the sandboxed iframe.
func (c *Console) previewHTML(ec echo.Context) error {
	ctx := ec.Request().Context()
	k := ec.QueryParam("k")
	if k == "" || k != c.sessions.GetString(ctx, keyPreviewKey) {
		return notFound("This preview is no longer kept; open the preview page again.")
	}
	h := ec.Response().Header()
	h.Set("Content-Security-Policy", previewCSP)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	return ec.HTML(http.StatusOK, c.sessions.GetString(ctx, keyPreviewHTML))
}
