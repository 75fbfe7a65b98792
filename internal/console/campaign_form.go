package console

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// The campaign form: new and edit (drafts only, as the API), both checked
// by campaign.Service.Check — the same check Create and Update make — so a
// form that comes back with no error is one the API would accept too.

// sendAtLayout is how a datetime-local control writes a moment.
const sendAtLayout = "2006-01-02T15:04"

// Schedule choices of the form.
const (
	scheduleNow  = "now"
	scheduleAt   = "at"
	scheduleCron = "cron"
)

// checkGroup is a group of checkboxes as "campaign-checks" draws it.
type checkGroup struct {
	ID, Name, Legend, Hint, Error string
	Options                       []Option
}

// Describedby lists the hint's and the error's ids for the group.
func (g checkGroup) Describedby() string {
	return Field{ID: g.ID, Hint: g.Hint, Error: g.Error}.Describedby()
}

// tierVariant is one tier's variant fields.
type tierVariant struct {
	Key, Name string
	Open      bool // it has content, or an error
}

// campaignFormData is the form's content besides its values.
type campaignFormData struct {
	Action, Cancel string
	Editing        bool
	Topics         []Option
	Categories     []Option
	Variants       []tierVariant
	AudienceTiers  checkGroup
	AudienceTopics checkGroup
	Zones          []string
	Firings        firingsData
	Checked        bool // "Check" found nothing wrong
}

// firingsData is the next firings of a cron expression, shown under it
// (and answered alone to htmx as the "campaign-firings" partial).
type firingsData struct {
	Times []string
	Zone  string
	Err   string
}

// campaignLabels are the form's fields and their labels, for the error
// summary; the tiers' variant fields are added per tier.
func campaignLabels(tiers []outreach.Tier) []string {
	l := []string{"name", "Name", "topic", "Topic", "category", "Category", "priority", "Priority",
		"subject", "Subject", "text", "Text part", "html", "HTML part",
		"audience.tiers", "Tiers", "audience.topics", "Topics", "audience.attributes", "Attributes",
		"audience.contact_ids", "Contact ids", "schedule", "When", "send_at", "Send at", "cron", "Cron expression",
		"timezone", "Time zone", "expires_after", "Expires after"}
	for _, t := range tiers {
		for _, part := range []struct{ f, l string }{{"subject", "subject"}, {"text", "text part"}, {"html", "HTML part"}} {
			l = append(l, "variants."+t.Key+"."+part.f, "Variant for "+t.Key+", "+part.l)
		}
	}
	return l
}

// renameField maps the service's field names to the form's: the
// audience's list items to their list.
var listItem = regexp.MustCompile(`\[\d+\]$`)

func renameField(name string) string { return listItem.ReplaceAllString(name, "") }

// newCampaignForm is GET /console/campaigns/new (marketer).
func (c *Console) newCampaignForm(ec echo.Context) error {
	f := newForm(url.Values{"category": {"marketing"}, "priority": {strconv.Itoa(campaign.DefaultPriority)},
		"schedule": {scheduleNow}, "timezone": {c.zone(ec).Name}})
	return c.campaignForm(ec, http.StatusOK, f, 0)
}

// editCampaignForm is GET /console/campaigns/:id/edit (marketer): drafts
// only.
func (c *Console) editCampaignForm(ec echo.Context) error {
	camp, err := c.loadCampaign(ec)
	if err != nil {
		return err
	}
	if camp.Status != outreach.CampaignDraft {
		return &pageError{Status: http.StatusConflict, Title: "Only drafts can be changed",
			Text: "“" + camp.Name + "” is " + string(camp.Status) + ". Make a new campaign instead."}
	}
	return c.campaignForm(ec, http.StatusOK, formOf(camp), camp.ID)
}

// formOf is a stored campaign as the form's values.
func formOf(camp outreach.Campaign) *Form {
	v := url.Values{"name": {camp.Name}, "topic": {camp.Topic}, "category": {string(camp.Category)},
		"priority": {strconv.Itoa(camp.Priority)}, "subject": {camp.Content.Subject}, "text": {camp.Content.Text},
		"html": {camp.Content.HTML}, "audience.tiers": camp.Audience.Tiers, "audience.topics": camp.Audience.Topics,
		"cron": {camp.Cron}, "timezone": {camp.Timezone}, "schedule": {scheduleNow}}
	for k, cnt := range camp.Variants {
		v.Set("variants."+k+".subject", cnt.Subject)
		v.Set("variants."+k+".text", cnt.Text)
		v.Set("variants."+k+".html", cnt.HTML)
	}
	var attrs []string
	for k, val := range camp.Audience.Attributes {
		attrs = append(attrs, k+"="+val)
	}
	slices.Sort(attrs)
	v.Set("audience.attributes", strings.Join(attrs, "\n"))
	ids := make([]string, len(camp.Audience.ContactIDs))
	for i, id := range camp.Audience.ContactIDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	v.Set("audience.contact_ids", strings.Join(ids, "\n"))
	switch {
	case camp.Cron != "":
		v.Set("schedule", scheduleCron)
	case camp.SendAt != nil:
		v.Set("schedule", scheduleAt)
		loc := time.UTC
		if l, ok := outreach.LoadZone(camp.Timezone); ok {
			loc = l
		}
		v.Set("send_at", camp.SendAt.In(loc).Format(sendAtLayout))
		if camp.Timezone == "" {
			v.Set("timezone", "UTC")
		}
	}
	if camp.ExpiresAfter > 0 {
		v.Set("expires_after", outreach.FormatDuration(camp.ExpiresAfter))
	}
	return newForm(v)
}

// campaignForm renders the form with f's values (id 0: a new campaign).
func (c *Console) campaignForm(ec echo.Context, status int, f *Form, id int64) error {
	ctx := ec.Request().Context()
	tiers, err := c.Store.Tiers(ctx)
	if err != nil {
		return err
	}
	topics, err := c.Store.Topics(ctx)
	if err != nil {
		return err
	}
	relabel(f, campaignLabels(tiers))
	d := campaignFormData{Action: "/console/campaigns", Cancel: "/console/campaigns", Zones: zoneOptions,
		Firings: firingsOf(f.Get("cron"), f.Get("timezone"), c.Clock.Now())}
	title := "New campaign"
	if id != 0 {
		d.Editing, d.Action, d.Cancel = true, campaignPath(id, "edit"), campaignPath(id, "")
		title = "Edit campaign"
	}
	d.Topics = []Option{{Value: "", Label: "No topic (transactional only)"}}
	for _, t := range topics {
		d.Topics = append(d.Topics, Option{Value: t.Key, Label: t.Name + " (" + t.Key + ")"})
	}
	d.Categories = []Option{{Value: "marketing", Label: "Marketing — caps, send windows and opt-outs apply"},
		{Value: "transactional", Label: "Transactional — receipts and notices: no caps, no opt-outs"}}
	d.AudienceTiers = checkGroup{ID: fieldID("audience.tiers"), Name: "audience.tiers", Legend: "Tiers",
		Hint: "Contacts whose tier is one of these; none ticked: every tier.", Error: f.Error("audience.tiers")}
	for _, t := range tiers {
		d.AudienceTiers.Options = append(d.AudienceTiers.Options, Option{Value: t.Key, Label: t.Name + " (" + t.Key + ")",
			Selected: slices.Contains(f.values["audience.tiers"], t.Key)})
		open := f.Error("variants."+t.Key+".subject")+f.Error("variants."+t.Key+".text")+f.Error("variants."+t.Key+".html") != ""
		for _, part := range []string{"subject", "text", "html"} {
			open = open || f.Get("variants."+t.Key+"."+part) != ""
		}
		d.Variants = append(d.Variants, tierVariant{Key: t.Key, Name: t.Name, Open: open})
	}
	d.AudienceTopics = checkGroup{ID: fieldID("audience.topics"), Name: "audience.topics", Legend: "Topics",
		Hint: "Contacts who have not opted out of any of these; none ticked: no topic filter.", Error: f.Error("audience.topics")}
	for _, t := range topics {
		d.AudienceTopics.Options = append(d.AudienceTopics.Options, Option{Value: t.Key, Label: t.Name,
			Selected: slices.Contains(f.values["audience.topics"], t.Key)})
	}
	d.Checked = ec.Request().Method == http.MethodPost && !f.Failed()
	return c.render(ec, status, "campaign-form", &View{Title: title, Form: f, Data: d})
}

// relabel gives a form made before the tiers were known its labels.
func relabel(f *Form, labels []string) {
	for i := 0; i+1 < len(labels); i += 2 {
		f.labels[labels[i]] = labels[i+1]
	}
}

// firingsOf is the next five firings of a cron expression in zone.
func firingsOf(cron, zone string, now time.Time) firingsData {
	d := firingsData{Zone: zone}
	if d.Zone == "" {
		d.Zone = "UTC"
	}
	if strings.TrimSpace(cron) == "" {
		return d
	}
	times, err := campaign.NextFirings(strings.TrimSpace(cron), zone, now, 5)
	if err != nil {
		d.Err = err.Error()
		return d
	}
	loc, ok := outreach.LoadZone(d.Zone)
	if !ok {
		loc = time.UTC
	}
	for _, t := range times {
		d.Times = append(d.Times, t.In(loc).Format("Mon 2 Jan 2006 15:04 MST"))
	}
	return d
}

// firings is GET /console/campaigns/firings?cron=&timezone=: the next
// five firings alone, for htmx to put under the cron field as it is
// typed.
func (c *Console) firings(ec echo.Context) error {
	t, ok := c.pages["campaign-form"]
	if !ok {
		return notFound("")
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "campaign-firings", firingsOf(ec.QueryParam("cron"), ec.QueryParam("timezone"), c.Clock.Now())); err != nil {
		return err
	}
	return ec.HTML(http.StatusOK, b.String())
}

// createCampaign is POST /console/campaigns (marketer): check, or create
// the draft.
func (c *Console) createCampaign(ec echo.Context) error {
	return c.saveCampaign(ec, 0, func(ctx context.Context, d campaign.Draft) (outreach.Campaign, error) {
		camp, _, err := c.Campaigns.Create(ctx, actor(ec), d, nil)
		return camp, err
	})
}

// updateCampaign is POST /console/campaigns/:id/edit (marketer): check, or
// replace the draft.
func (c *Console) updateCampaign(ec echo.Context) error {
	camp, err := c.loadCampaign(ec)
	if err != nil {
		return err
	}
	return c.saveCampaign(ec, camp.ID, func(ctx context.Context, d campaign.Draft) (outreach.Campaign, error) {
		return c.Campaigns.Update(ctx, actor(ec), camp.ID, func(cur *campaign.Draft) error { *cur = d; return nil })
	})
}

// saveCampaign reads the form and saves it with save, which checks it
// with the service (errors next to their fields, nothing written); a
// check alone only checks.
func (c *Console) saveCampaign(ec echo.Context, id int64, save func(context.Context, campaign.Draft) (outreach.Campaign, error)) error {
	form, err := postForm(ec)
	if err != nil {
		return badRequest("The form could not be read.")
	}
	f := newForm(form)
	ctx := ec.Request().Context()
	tiers, err := c.Store.Tiers(ctx)
	if err != nil {
		return err
	}
	relabel(f, campaignLabels(tiers))
	d := draftOf(f, tiers)
	// Create and Update check the draft themselves; Check alone is for a
	// form that goes back anyway, so it shows all of its errors at once.
	if f.Failed() || f.Get("op") == "check" {
		if _, err := c.Campaigns.Check(ctx, d); err != nil {
			if _, ok := f.absorb(err, renameField); !ok {
				return err
			}
		}
		status := http.StatusOK
		if f.Failed() {
			status = http.StatusUnprocessableEntity
		}
		return c.campaignForm(ec, status, f, id)
	}
	camp, err := save(ctx, d)
	if err != nil {
		status, ok := f.absorb(err, renameField)
		if !ok {
			return err
		}
		return c.campaignForm(ec, status, f, id)
	}
	return c.seeOther(ec, "The draft “"+camp.Name+"” is saved. Preview it, then see what launching it would do.", campaignPath(camp.ID, ""))
}

// draftOf reads the form into a draft; what the form alone can tell is
// wrong (a number that is none, a line that is no key=value) fails its
// field here, the rest is the service's to check.
func draftOf(f *Form, tiers []outreach.Tier) campaign.Draft {
	d := campaign.Draft{Name: f.Get("name"), Topic: f.Get("topic"), Category: outreach.Category(f.Get("category")),
		Content:  outreach.Content{Subject: f.Get("subject"), Text: f.Raw("text"), HTML: f.Raw("html")},
		Audience: outreach.Audience{Tiers: nonEmpty(f.values["audience.tiers"]), Topics: nonEmpty(f.values["audience.topics"])}}
	if s := f.Get("priority"); s != "" {
		if p, err := strconv.Atoi(s); err == nil {
			d.Priority = &p
		} else {
			f.Fail("priority", "must be a whole number from 0 to 100")
		}
	}
	for _, t := range tiers {
		v := outreach.Content{Subject: f.Get("variants." + t.Key + ".subject"), Text: f.Raw("variants." + t.Key + ".text"),
			HTML: f.Raw("variants." + t.Key + ".html")}
		if strings.TrimSpace(v.Subject+v.Text+v.HTML) != "" {
			if d.Variants == nil {
				d.Variants = map[string]outreach.Content{}
			}
			d.Variants[t.Key] = v
		}
	}
	for i, line := range strings.Split(f.Raw("audience.attributes"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			f.Fail("audience.attributes", "line "+strconv.Itoa(i+1)+": write one name=value a line, such as plan=pro")
			continue
		}
		if d.Audience.Attributes == nil {
			d.Audience.Attributes = map[string]string{}
		}
		d.Audience.Attributes[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	for _, s := range strings.FieldsFunc(f.Raw("audience.contact_ids"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			f.Fail("audience.contact_ids", "“"+s+"” is not a contact id (a whole number, as on the contact's page)")
			continue
		}
		d.Audience.ContactIDs = append(d.Audience.ContactIDs, id)
	}
	if z := f.Get("timezone"); z != "" && f.Get("schedule") != scheduleNow {
		if _, ok := outreach.LoadZone(z); !ok {
			f.Fail("timezone", "unknown time zone: use an IANA name such as Europe/Berlin")
		}
	}
	switch f.Get("schedule") {
	case scheduleNow, "":
	case scheduleAt:
		d.Timezone = f.Get("timezone")
		loc := time.UTC
		if d.Timezone != "" {
			if l, ok := outreach.LoadZone(d.Timezone); ok {
				loc = l
			}
		}
		t, err := time.ParseInLocation(sendAtLayout, f.Get("send_at"), loc)
		if err != nil {
			f.Fail("send_at", "give a date and time, such as 2026-12-01T09:30")
		} else {
			d.SendAt = &t
		}
	case scheduleCron:
		d.Cron, d.Timezone = f.Get("cron"), f.Get("timezone")
		if d.Cron == "" {
			f.Fail("cron", "give a cron expression, such as 0 9 * * MON for Mondays at 09:00")
		}
	default:
		f.Fail("schedule", "choose now, at a time or recurring")
	}
	if s := f.Get("expires_after"); s != "" {
		e, err := outreach.ParseDuration(s)
		if err != nil {
			f.Fail("expires_after", "must be a duration such as 36h or 3d")
		} else {
			d.ExpiresAfter = &e
		}
	}
	return d
}

func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
