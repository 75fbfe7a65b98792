package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// Helpers for the campaign pages' tests: campaigns through the service,
// contacts through the store, and the deliveries a plan would write,
// written directly (the tests' queue plans nothing).

// newCampaign creates a draft through the service, as the API does.
func (b *bundle) newCampaign(name string, tune func(*campaign.Draft)) outreach.Campaign {
	b.t.Helper()
	d := campaign.Draft{Name: name, Topic: "offers", Content: outreach.Content{Subject: "Hi {{.Contact.Name}}", Text: "Hello", HTML: "<p>Hello</p>"}}
	if tune != nil {
		tune(&d)
	}
	c, _, err := b.console.Deps.Campaigns.Create(context.Background(), "test", d, nil)
	require.NoError(b.t, err)
	return c
}

// contact adds an active contact.
func (b *bundle) contact(email, tier, zone string) outreach.Contact {
	b.t.Helper()
	c, _, err := b.store.UpsertContact(context.Background(), "test", outreach.Contact{Email: email, Name: "Name of " + email,
		Tier: tier, Timezone: zone, Locale: "en", Status: outreach.StatusActive})
	require.NoError(b.t, err)
	return c
}

// deliver writes a delivery of the campaign's latest run (made if there
// is none), as a plan would.
func (b *bundle) deliver(camp outreach.Campaign, contactID int64, tier, state, reason string, plannedFor time.Time, expires *time.Time) {
	b.t.Helper()
	ctx := context.Background()
	_, err := b.db.Exec(ctx, `INSERT INTO campaign_runs (campaign_id, fire_at, created_at, updated_at)
		SELECT $1, now(), now(), now() WHERE NOT EXISTS (SELECT 1 FROM campaign_runs WHERE campaign_id = $1)`, camp.ID)
	require.NoError(b.t, err)
	var sent *time.Time
	if state == "sent" {
		now := time.Now()
		sent = &now
	}
	_, err = b.db.Exec(ctx, `INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, rule,
		planned_for, expires_at, sent_at, created_at, updated_at)
		SELECT max(id), $1, $2, true, $3, $4, $5, $6, '', $7, $8, $9, now(), now() FROM campaign_runs WHERE campaign_id = $1`,
		camp.ID, contactID, camp.Priority, tier, state, reason, plannedFor, expires, sent)
	require.NoError(b.t, err)
}

func (b *bundle) setStatus(id int64, s outreach.CampaignStatus) {
	b.t.Helper()
	_, err := b.db.Exec(context.Background(), `UPDATE campaigns SET status = $2 WHERE id = $1`, id, string(s))
	require.NoError(b.t, err)
}

// zoneAt is a fixed-offset zone where it is now about hour o'clock.
func zoneAt(hour int) string {
	off := hour - time.Now().UTC().Hour()
	if off > 12 {
		off -= 24
	}
	if off < -12 {
		off += 24
	}
	switch {
	case off == 0:
		return "UTC"
	case off > 0:
		return fmt.Sprintf("Etc/GMT-%d", off)
	}
	return fmt.Sprintf("Etc/GMT+%d", -off)
}

// requireTextareaError is requireFieldError for a textarea.
func requireTextareaError(t *testing.T, p page, id, msg string) {
	t.Helper()
	require.Contains(t, p.Body, `<p class="error" id="`+id+`-error"><strong>Error:</strong> `+msg)
	control := regexp.MustCompile(`<textarea id="` + id + `"[^>]*>`).FindString(p.Body)
	require.NotEmpty(t, control, "control %s", id)
	require.Contains(t, control, `aria-invalid="true"`)
	require.Regexp(t, `aria-describedby="[^"]*`+id+`-error`, control)
	require.Contains(t, p.Body, `<a href="#`+id+`">`)
}

// TestCampaignListAndCalendar: the list with statuses in words and drafts
// apart, buttons for marketers only; the calendar shows recurring
// firings and one-off sends in the viewer's zone, which it names and
// remembers, and says so when a zone is unknown.
func TestCampaignListAndCalendar(t *testing.T) {
	t.Parallel()
	b := setup(t)
	draft := b.newCampaign("Spring draft", nil)
	weekly := b.newCampaign("Monday letter", func(d *campaign.Draft) { d.Cron, d.Timezone = "0 9 * * MON", "Europe/Berlin" })
	at := time.Now().Add(48 * time.Hour).Truncate(time.Minute)
	oneOff := b.newCampaign("Launch day", func(d *campaign.Draft) { d.SendAt = &at })
	ctx := context.Background()
	_, err := b.console.Deps.Campaigns.Schedule(ctx, "test", weekly.ID, nil)
	require.NoError(t, err)
	_, err = b.console.Deps.Campaigns.Schedule(ctx, "test", oneOff.ID, nil)
	require.NoError(t, err)

	viewer, _ := b.as(outreach.RoleViewer)
	p := viewer.get("/console/campaigns")
	require.Equal(t, http.StatusOK, p.Status)
	sent, drafts, ok := strings.Cut(p.Body, `id="drafts-h"`)
	require.True(t, ok)
	require.Contains(t, sent, "Monday letter")
	require.Contains(t, sent, `<span class="badge status-scheduled" title="Scheduled — will send at its time">scheduled</span>`)
	require.NotContains(t, sent, "Spring draft", "drafts are apart")
	require.Contains(t, drafts, "Spring draft")
	require.Contains(t, drafts, `>draft</span>`)
	require.Contains(t, p.Body, "/console/campaigns/"+itoa(draft.ID))
	require.NotContains(t, p.Body, "/console/campaigns/new", "no button for a viewer")
	p = viewer.get("/console/campaigns?status=completed")
	require.NotContains(t, strings.SplitN(p.Body, `id="drafts-h"`, 2)[0], "Monday letter", "filtered by status")

	marketer, _ := b.as(outreach.RoleMarketer)
	require.Contains(t, marketer.get("/console/campaigns").Body, `href="/console/campaigns/new"`)

	// The next Monday's 09:00 in Berlin, seen from New York.
	next, err := campaign.NextFirings("0 9 * * MON", "Europe/Berlin", time.Now(), 1)
	require.NoError(t, err)
	ny, _ := time.LoadLocation("America/New_York")
	p = viewer.get("/console/campaigns/calendar?view=week&tz=America/New_York&date=" + next[0].In(ny).Format(time.DateOnly))
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "Times below are in <strong>America/New_York</strong>")
	require.Contains(t, p.Body, next[0].In(ny).Format("15:04")+" Monday letter")
	require.Contains(t, p.Body, "(recurring)")
	p = viewer.get("/console/campaigns/calendar?date=" + at.In(ny).Format(time.DateOnly))
	require.Contains(t, p.Body, "Times below are in <strong>America/New_York</strong>", "the zone is remembered")
	require.Contains(t, p.Body, at.In(ny).Format("15:04")+" Launch day")
	require.Contains(t, p.Body, `<table class="cal-month"`)
	p = viewer.get("/console/campaigns/calendar?tz=Mars/Olympus")
	require.Contains(t, p.Body, `id="f-tz-error"><strong>Error:</strong> unknown time zone`)
	require.NotContains(t, p.Body, "Spring draft", "drafts are not on the calendar")
}

// campaignForm is a filled-in form with a variant for the high tier.
func campaignForm() url.Values {
	return url.Values{"name": {"Autumn offers"}, "category": {"marketing"}, "topic": {"offers"}, "priority": {"70"},
		"subject": {"Hello {{.Contact.Name}}"}, "text": {"Hello"}, "html": {"<p>Hello</p>"},
		"variants.high.subject": {"For you, {{.Contact.Name}}"}, "variants.high.text": {"VIP"}, "variants.high.html": {"<p>VIP</p>"},
		"audience.tiers": {"high", "medium"}, "audience.attributes": {"plan=pro"}, "schedule": {"cron"}, "cron": {"0 9 * * MON"},
		"timezone": {"Europe/Berlin"}, "expires_after": {"3d"}, "op": {"save"}}
}

// TestCampaignForm: a marketer creates a draft with a tier variant and
// edits it; bad input (a template error with its line, a number that is
// none, an unknown zone) comes back with the values and each error next
// to its field, and nothing is written; "Check" saves nothing and shows
// the next firings; a viewer may do none of it.
func TestCampaignForm(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, email := b.as(outreach.RoleMarketer)
	p := c.get("/console/campaigns/new")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, `name="variants.high.subject"`)
	camps, audit := b.count("campaigns"), b.count("audit_log")

	bad := campaignForm()
	bad.Set("html", "<p>Hello</p>\n<p>{{.Contact.Nam}</p>")
	bad.Set("variants.high.subject", "{{if}}")
	bad.Set("priority", "lots")
	bad.Set("timezone", "Mars/Olympus")
	p = c.post("/console/campaigns", bad)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireTextareaError(t, p, "f-html", "line 2: ")
	requireFieldError(t, p, "f-variants-high-subject", "line 1: ")
	requireFieldError(t, p, "f-priority", "must be a whole number from 0 to 100")
	require.Contains(t, p.Body, `id="f-timezone-error"><strong>Error:</strong> `)
	require.Contains(t, p.Body, `value="Autumn offers"`, "values are kept")
	require.Contains(t, p.Body, "&lt;p&gt;{{.Contact.Nam}&lt;/p&gt;</textarea>")
	require.Contains(t, p.Body, `<option value="offers" selected>`)
	require.Regexp(t, `value="high" checked`, p.Body)
	require.Equal(t, camps, b.count("campaigns"), "nothing written")
	require.Equal(t, audit, b.count("audit_log"))

	check := campaignForm()
	check.Set("op", "check")
	p = c.post("/console/campaigns", check)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "Everything checks out")
	require.Equal(t, 5, strings.Count(strings.SplitN(strings.SplitN(p.Body, `id="firings"`, 2)[1], "</ol>", 2)[0], "<li>"), "the next five firings")
	require.Contains(t, p.Body, " 09:00 CE")
	require.Equal(t, camps, b.count("campaigns"), "a check saves nothing")
	frag := c.get("/console/campaigns/firings?cron=" + url.QueryEscape("30 8 * * *") + "&timezone=Asia/Kolkata")
	require.Equal(t, http.StatusOK, frag.Status)
	require.Equal(t, 5, strings.Count(frag.Body, " 08:30 IST"), frag.Body)
	require.NotContains(t, frag.Body, "<html", "a fragment for htmx")

	p = c.post("/console/campaigns", campaignForm())
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Regexp(t, `^/console/campaigns/\d+$`, p.Location)
	rows, err := b.console.Deps.Campaigns.Browse(context.Background(), []outreach.CampaignStatus{outreach.CampaignDraft}, 0, 10)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	got := rows[0]
	require.Equal(t, "For you, {{.Contact.Name}}", got.Variants["high"].Subject)
	require.Equal(t, []string{"high", "medium"}, got.Audience.Tiers)
	require.Equal(t, map[string]string{"plan": "pro"}, got.Audience.Attributes)
	require.Equal(t, 70, got.Priority)
	require.Equal(t, 72*time.Hour, got.ExpiresAfter)
	require.Equal(t, "Europe/Berlin", got.Timezone)
	require.Contains(t, b.audited("user:"+email), "create campaign")
	require.Contains(t, c.get(p.Location).Body, "The draft “Autumn offers” is saved.")

	// Edit: the stored values come back, and a change is saved.
	edit := "/console/campaigns/" + itoa(got.ID) + "/edit"
	p = c.get(edit)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, `value="0 9 * * MON"`)
	require.Contains(t, p.Body, "plan=pro</textarea>")
	changed := campaignForm()
	changed.Set("name", "Autumn offers, again")
	changed.Set("schedule", "at")
	changed.Set("send_at", "2031-10-01T09:30")
	changed.Del("cron")
	p = c.post(edit, changed)
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	after, err := b.console.Deps.Campaigns.Get(context.Background(), got.ID)
	require.NoError(t, err)
	require.Equal(t, "Autumn offers, again", after.Name)
	require.Equal(t, "", after.Cron)
	require.Equal(t, time.Date(2031, 10, 1, 7, 30, 0, 0, time.UTC), after.SendAt.UTC(), "09:30 in Berlin")

	// Only drafts, as the API.
	b.setStatus(got.ID, outreach.CampaignRunning)
	require.Equal(t, http.StatusConflict, c.get(edit).Status)
	require.Equal(t, http.StatusConflict, c.post(edit, changed).Status)

	viewer, _ := b.as(outreach.RoleViewer)
	require.Equal(t, http.StatusForbidden, viewer.get("/console/campaigns/new").Status)
	camps = b.count("campaigns")
	require.Equal(t, http.StatusForbidden, viewer.post("/console/campaigns", campaignForm()).Status)
	require.Equal(t, camps, b.count("campaigns"))
}

// TestCampaignPreview: the sample contact and each tier's variant; a
// contact found by address, audited; the HTML part in a sandboxed iframe
// from its own route with its own strict policy.
func TestCampaignPreview(t *testing.T) {
	t.Parallel()
	b := setup(t)
	camp := b.newCampaign("Preview me", func(d *campaign.Draft) {
		d.Variants = map[string]outreach.Content{"high": {Subject: "VIP {{.Contact.Name}}", Text: "vip text", HTML: "<p style=\"color:red\">vip</p>"}}
	})
	grace := b.contact("grace@example.com", "high", "UTC")
	c, email := b.as(outreach.RoleMarketer)
	path := "/console/campaigns/" + itoa(camp.ID) + "/preview"

	p := c.get(path)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "Hi Ada Lovelace")
	require.Contains(t, p.Body, "List-Unsubscribe-Post")
	require.Contains(t, p.Body, "Rapport Test &lt;news@example.com&gt;")
	require.Contains(t, p.Body, "offers &lt;offers.lists.example.com&gt;")
	frame := regexp.MustCompile(`<iframe[^>]*>`).FindString(p.Body)
	require.Contains(t, frame, ` sandbox `)
	require.NotContains(t, frame, "allow-", "nothing allowed in the sandbox")
	src := regexp.MustCompile(`src="([^"]+)"`).FindStringSubmatch(frame)[1]
	html := c.get(strings.ReplaceAll(src, "&amp;", "&"))
	require.Equal(t, http.StatusOK, html.Status)
	require.Contains(t, html.Body, "<p>Hello</p>")
	require.Contains(t, html.Header.Get("Content-Security-Policy"), "default-src 'none'")
	require.Contains(t, html.Header.Get("Content-Security-Policy"), "sandbox")
	require.Contains(t, html.Header.Get("Content-Security-Policy"), "frame-ancestors 'self'")
	require.NotContains(t, html.Header.Get("Content-Security-Policy"), "script-src")
	require.Equal(t, "SAMEORIGIN", html.Header.Get("X-Frame-Options"))
	require.Equal(t, http.StatusNotFound, c.get(path+"/html?k=guess").Status)

	p = c.get(path + "?tier=high")
	require.Contains(t, p.Body, "VIP Ada Lovelace")
	require.Contains(t, p.Body, "The <strong>high</strong> variant")
	require.Contains(t, p.Body, "vip text")

	audit := b.count("audit_log")
	p = c.get(path + "?q=GRACE@")
	require.Contains(t, p.Body, "/preview?contact="+itoa(grace.ID))
	require.Equal(t, audit, b.count("audit_log"), "finding audits nothing")
	p = c.get(path + "?contact=" + itoa(grace.ID))
	require.Contains(t, p.Body, "VIP Name of grace@example.com", "her tier's variant")
	require.Contains(t, p.Body, "For <strong>grace@example.com</strong>")
	require.Contains(t, b.audited("user:"+email), "preview campaign", "a real contact's preview is audited")

	bad := b.newCampaign("Broken at send", func(d *campaign.Draft) {
		d.Content.Text = "Plan: {{if .Contact.Attributes.plan}}{{.Contact.Attributes.plan.name}}{{end}}"
	})
	_, err := b.db.Exec(context.Background(), `UPDATE contacts SET attributes = '{"plan": "pro"}' WHERE id = $1`, grace.ID)
	require.NoError(t, err)
	p = c.get("/console/campaigns/" + itoa(bad.ID) + "/preview?contact=" + itoa(grace.ID))
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.Body, "The templates do not render")
	require.Contains(t, p.Body, "text: line 1:")

	viewer, _ := b.as(outreach.RoleViewer)
	require.Equal(t, http.StatusForbidden, viewer.get(path).Status, "previews are the API's marketer role")
}

// TestLaunchPage: the forecast before launch — the audience, the outcome
// per tier as a chart and a table, the rule behind each reason, and the
// scheduled messages of a lower-priority campaign the launch would
// preempt, per campaign — for a viewer without buttons, for a marketer
// with them.
func TestLaunchPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	zone := zoneAt(3) // the 08:00 window opens in about five hours
	var ids []int64
	for i := range 3 {
		ids = append(ids, b.contact(fmt.Sprintf("w%d@example.com", i), "medium", zone).ID)
	}
	b.contact("gone@example.com", "medium", zone)
	_, err := b.db.Exec(context.Background(), `UPDATE contacts SET status = 'unsubscribed' WHERE email = 'gone@example.com'`)
	require.NoError(t, err)
	digest := b.newCampaign("Weekly digest", func(d *campaign.Draft) { p := 10; d.Priority = &p })
	b.setStatus(digest.ID, outreach.CampaignRunning)
	slot, expires := time.Now().Add(5*time.Hour), time.Now().Add(10*time.Hour)
	for _, id := range ids {
		b.deliver(digest, id, "medium", "scheduled", "deferred_send_window", slot, &expires)
	}
	recall := b.newCampaign("Recall notice", func(d *campaign.Draft) {
		p := 90
		d.Priority = &p
		d.Audience.Tiers = []string{"medium"}
	})
	path := "/console/campaigns/" + itoa(recall.ID) + "/launch"

	viewer, _ := b.as(outreach.RoleViewer)
	deliveries := b.count("deliveries")
	p := viewer.get(path)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, `<span class="stat-n" id="audience-size">4</span>`)
	require.Contains(t, p.Body, `<svg class="chart"`)
	require.Contains(t, p.Body, `role="img" aria-labelledby=`)
	require.Contains(t, p.Body, "Of 4 contacts: 0 sent now, 3 deferred, 0 expired, 1 skipped.")
	require.Regexp(t, `<th scope="row">About once a week</th><td>4</td><td>0</td><td>3</td><td>0</td><td>1</td>`, p.Body)
	require.Contains(t, p.Body, `<span class="badge">deferred_send_window</span>`)
	require.Contains(t, p.Body, "<code>send_window ")
	require.Contains(t, p.Body, `<span class="badge">unsubscribed</span>`)
	displace := strings.SplitN(strings.SplitN(p.Body, `id="displace-table"`, 2)[1], "</table>", 2)[0]
	require.Contains(t, displace, `<a href="/console/campaigns/`+itoa(digest.ID)+`">Weekly digest</a></th><td>all</td><td>10</td><td>3</td><td>0</td><td>3</td>`,
		"all three of the digest's messages would be preempted")
	require.NotContains(t, p.Body, "/send\">Send now", "no buttons for a viewer")
	require.Equal(t, deliveries, b.count("deliveries"), "a forecast writes nothing")

	marketer, _ := b.as(outreach.RoleMarketer)
	p = marketer.get(path)
	require.Contains(t, p.Body, `href="/console/campaigns/`+itoa(recall.ID)+`/send">Send now…</a>`)
	require.NotContains(t, p.Body, `/schedule">`, "nothing to schedule: no send_at, no cron")
	p = marketer.get("/console/campaigns/" + itoa(recall.ID) + "/send")
	require.Contains(t, p.Body, "It goes to an audience of 4 contacts, now: 0 would be sent at the firing, 3 deferred to a later slot, 0 expired and 1 skipped")
	require.Contains(t, p.Body, "It would take the slots of 3 scheduled messages of “Weekly digest” (priority 10): 0 moved later, 3 skipped as preempted.")
}

// TestLifecycleActions: each action asks first, with how many it affects;
// a POST without the confirmation goes back to it; confirmed, the
// service does it, audited under the user; a viewer is refused and
// nothing changes; an action the status does not allow is a 409.
func TestLifecycleActions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ct := b.contact("ada@example.com", "high", zoneAt(13))
	camp := b.newCampaign("Now then", nil)
	base := "/console/campaigns/" + itoa(camp.ID)
	viewer, _ := b.as(outreach.RoleViewer)
	audit := b.count("audit_log")
	for _, a := range []string{"send", "schedule", "pause", "resume", "cancel"} {
		require.Equal(t, http.StatusForbidden, viewer.get(base+"/"+a).Status, a)
		require.Equal(t, http.StatusForbidden, viewer.post(base+"/"+a, url.Values{"confirm": {"yes"}}).Status, a)
	}
	require.Equal(t, audit, b.count("audit_log"), "a viewer changed nothing")
	require.NotContains(t, viewer.get(base).Body, base+"/cancel", "and sees no button")

	c, email := b.as(outreach.RoleMarketer)
	p := c.get(base + "/send")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "Send “Now then”?")
	require.Contains(t, p.Body, "audience of 1 contacts, now: 1 would be sent at the firing")
	p = c.post(base+"/send", nil)
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, base+"/send", p.Location, "unconfirmed: asked first")
	p = c.post(base+"/send", url.Values{"confirm": {"yes"}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, base, p.Location)
	got, err := b.console.Deps.Campaigns.Get(context.Background(), camp.ID)
	require.NoError(t, err)
	require.Equal(t, outreach.CampaignRunning, got.Status)
	require.Contains(t, b.audited("user:"+email), "send campaign")
	require.Contains(t, c.get(base).Body, "“Now then” is sending.")

	b.deliver(got, ct.ID, "high", "scheduled", "scheduled", time.Now(), nil)
	p = c.get(base + "/pause")
	require.Contains(t, p.Body, "1 messages still to go (1 scheduled, 0 deferred) are held")
	require.Equal(t, http.StatusSeeOther, c.post(base+"/pause", url.Values{"confirm": {"yes"}}).Status)
	require.Equal(t, http.StatusConflict, c.get(base+"/pause").Status, "already paused")
	require.Equal(t, http.StatusConflict, c.post(base+"/pause", url.Values{"confirm": {"yes"}}).Status)
	require.Contains(t, c.get(base+"/resume").Body, "1 held messages are planned again")
	require.Equal(t, http.StatusSeeOther, c.post(base+"/resume", url.Values{"confirm": {"yes"}}).Status)
	p = c.get(base + "/cancel")
	require.Contains(t, p.Body, "1 messages still to go (1 scheduled, 0 deferred) are skipped with reason canceled")
	require.Equal(t, http.StatusSeeOther, c.post(base+"/cancel", url.Values{"confirm": {"yes"}}).Status)
	got, err = b.console.Deps.Campaigns.Get(context.Background(), camp.ID)
	require.NoError(t, err)
	require.Equal(t, outreach.CampaignCanceled, got.Status)
	require.Subset(t, b.audited("user:"+email), []string{"pause campaign", "resume campaign", "cancel campaign"})
}

// TestRunView: live counts per tier and reason, each linking to its
// deliveries; htmx polls the progress part while the campaign runs and
// stops once it is done; the deliveries list filters by state and
// reason, pages, and refuses a filter it does not know.
func TestRunView(t *testing.T) {
	t.Parallel()
	b := setup(t)
	camp := b.newCampaign("Running", nil)
	b.setStatus(camp.ID, outreach.CampaignRunning)
	now := time.Now()
	for i := range 3 {
		b.deliver(camp, b.contact(fmt.Sprintf("s%d@example.com", i), "high", "UTC").ID, "high", "sent", "sent", now, nil)
	}
	b.deliver(camp, b.contact("d@example.com", "medium", "UTC").ID, "medium", "scheduled", "deferred_cap", now.Add(time.Hour), nil)
	b.deliver(camp, b.contact("o@example.com", "medium", "UTC").ID, "medium", "skipped", "topic_opt_out", now, nil)
	b.deliver(camp, b.contact("f@example.com", "low", "UTC").ID, "low", "failed", "failed_permanent", now, nil)

	viewer, _ := b.as(outreach.RoleViewer)
	base := "/console/campaigns/" + itoa(camp.ID)
	p := viewer.get(base)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, `<span id="progress-sent">3</span> sent of <span id="progress-total">6</span> planned`)
	require.Contains(t, p.Body, `<span id="progress-rate">3</span> sent in the last minute`)
	require.Contains(t, p.Body, `hx-get="`+base+`/progress" hx-trigger="every 2s"`)
	require.Contains(t, p.Body, `href="/console/deliveries?campaign_id=`+itoa(camp.ID)+`&amp;reason=deferred_cap&amp;state=scheduled">deferred_cap: 1</a>`)
	require.Contains(t, p.Body, `reason=topic_opt_out&amp;state=skipped">topic_opt_out: 1</a>`)
	require.Contains(t, p.Body, `reason=failed_permanent&amp;state=failed">failed_permanent: 1</a>`)
	require.NotContains(t, p.Body, base+"/pause", "no buttons for a viewer")
	part := viewer.get(base + "/progress")
	require.Equal(t, http.StatusOK, part.Status)
	require.True(t, strings.HasPrefix(part.Body, `<div id="progress"`), "a fragment")
	require.Contains(t, part.Body, `hx-trigger="every 2s"`)
	b.setStatus(camp.ID, outreach.CampaignCompleted)
	part = viewer.get(base + "/progress")
	require.NotContains(t, part.Body, "hx-trigger", "done: the polling stops")
	require.Contains(t, part.Body, `data-status="completed"`)

	marketer, _ := b.as(outreach.RoleMarketer)
	b.setStatus(camp.ID, outreach.CampaignRunning)
	require.Contains(t, marketer.get(base).Body, `href="`+base+`/pause">Pause…</a>`)

	p = viewer.get("/console/deliveries?campaign_id=" + itoa(camp.ID) + "&state=skipped&reason=topic_opt_out")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "Deliveries of “Running”")
	require.Equal(t, 1, strings.Count(p.Body, `<span class="badge state-skipped">skipped</span>`))
	require.NotContains(t, p.Body, `state-sent`)
	p = viewer.get("/console/deliveries?campaign_id=" + itoa(camp.ID))
	require.Equal(t, 6, strings.Count(p.Body, `<th scope="row">`))
	// Pages of 50, by cursor, the filters kept.
	_, err := b.db.Exec(context.Background(), `INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state,
		reason, planned_for, created_at, updated_at)
		SELECT (SELECT max(id) FROM campaign_runs WHERE campaign_id = $1), $1, 100000 + g, true, 50, 'low', 'skipped', 'paused', now(), now(), now()
		FROM generate_series(1, 55) g`, camp.ID)
	require.NoError(t, err)
	p = viewer.get("/console/deliveries?campaign_id=" + itoa(camp.ID) + "&reason=paused")
	require.Equal(t, 50, strings.Count(p.Body, `<th scope="row">`))
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(p.Body)
	require.Len(t, next, 2, "a next page")
	p = viewer.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	require.Equal(t, 5, strings.Count(p.Body, `<th scope="row">`))
	require.NotContains(t, p.Body, `rel="next"`)

	p = viewer.get("/console/deliveries?state=lost&campaign_id=x")
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireFieldError(t, p, "f-state", "choose one of the states listed")
	requireFieldError(t, p, "f-campaign-id", "must be a campaign&#39;s id, a whole number")
}
