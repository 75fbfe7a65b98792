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

	"github.com/rapport-dev/rapport/internal/console"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// addContact upserts a contact through the store, as the API does.
func (b *bundle) addContact(email, tier string, tune ...func(*outreach.Contact)) outreach.Contact {
	b.t.Helper()
	c := outreach.Contact{Email: email, Tier: tier, Name: strings.Split(email, "@")[0]}
	for _, f := range tune {
		f(&c)
	}
	out, _, err := b.store.UpsertContact(context.Background(), "test", c)
	require.NoError(b.t, err)
	return out
}

// rowEmails are the addresses a contact list shows, in order.
func rowEmails(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<th scope="row"><a href="/console/contacts/\d+">([^<]+)</a>`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestContactList: a viewer finds a contact by its exact address (any
// case) or external id and narrows the list by tier, status and overdue;
// filters that cannot be read come back next to their field, kept.
func TestContactList(t *testing.T) {
	t.Parallel()
	b := setup(t, func(d *console.Deps) { d.OverdueScan, d.OverdueBudget = 2, time.Nanosecond })
	ctx := context.Background()
	ada := b.addContact("ada@example.com", "high", func(c *outreach.Contact) { c.ExternalID = "crm-1" })
	b.addContact("bob@example.com", "low")
	carol := b.addContact("carol@example.com", "medium")
	_, err := b.store.Suppress(ctx, "test", carol.Email, outreach.SuppressUnsubscribe)
	require.NoError(t, err)
	dan := b.addContact("dan@example.com", "medium")
	// Dan was added long ago and never written to: overdue (medium aims
	// at every 30 days).
	_, err = b.db.Exec(ctx, "UPDATE contacts SET created_at = now() - interval '60 days' WHERE id = $1", dan.ID)
	require.NoError(t, err)
	_, err = b.db.Exec(ctx, "INSERT INTO contact_last_sent (contact_id, last_sent_at) VALUES ($1, '2026-11-20T08:30:00Z')", ada.ID)
	require.NoError(t, err)

	c, _ := b.as(outreach.RoleViewer)
	p := c.get("/console/contacts")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "4 contacts.")
	require.Equal(t, 1, strings.Count(p.Body, `<td class="nowrap">20 Nov 2026 08:30 UTC</td>`), "ada's last email; the others were never sent to")
	require.Equal(t, []string{"ada@example.com", "bob@example.com", "carol@example.com", "dan@example.com"}, rowEmails(p.Body))
	require.NotContains(t, p.Body, "/console/contacts/import", "no import button for a viewer")
	require.Contains(t, p.Body, `href="/console/contacts" aria-current="page"`)

	for q, want := range map[string][]string{"ADA@Example.com": {"ada@example.com"}, "crm-1": {"ada@example.com"}, "ada": nil, "crm": nil} {
		p = c.get("/console/contacts?q=" + url.QueryEscape(q))
		require.Equal(t, http.StatusOK, p.Status)
		require.Equal(t, want, rowEmails(p.Body), q)
		if want == nil {
			require.Contains(t, p.Body, "No contact has that address or external id.")
		}
	}
	require.Contains(t, c.get("/console/contacts?q=crm-1").Body, `href="/console/contacts/`+itoa(ada.ID)+`"`)

	for query, want := range map[string][]string{
		"tier=low":                    {"bob@example.com"},
		"tier=medium":                 {"carol@example.com", "dan@example.com"},
		"status=unsubscribed":         {"carol@example.com"},
		"tier=high&status=active":     {"ada@example.com"},
		"tier=high&status=complained": nil,
		"overdue=yes&status=active&after=" + itoa(ada.ID+1): {"dan@example.com"},
	} {
		p = c.get("/console/contacts?" + query)
		require.Equal(t, http.StatusOK, p.Status, query)
		require.Equal(t, want, rowEmails(p.Body), query)
	}

	// Overdue reads stretches of OverdueScan (2) ids until its budget
	// (1ns: one stretch) is spent: the first stretch has none, and the
	// page says so and links on.
	p = c.get("/console/contacts?overdue=yes")
	require.Empty(t, rowEmails(p.Body))
	require.Contains(t, p.Body, "None of these is overdue.")
	require.Contains(t, p.Body, "Looked through the contacts up to number "+itoa(ada.ID+1))
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">Look further →</a>`).FindStringSubmatch(p.Body)
	require.Len(t, next, 2)
	p = c.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	require.Equal(t, []string{"dan@example.com"}, rowEmails(p.Body))
	require.NotContains(t, p.Body, "Look further", "the last stretch")

	p = c.get("/console/contacts?status=gone&tier=high")
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireFieldError(t, p, "f-status", "choose one of the statuses listed")
	require.Contains(t, p.Body, `<option value="high" selected>`, "values are kept")
	p = c.get("/console/contacts?tier=nope")
	requireFieldError(t, p, "f-tier", "choose one of the tiers listed")
	p = c.get("/console/contacts?overdue=yes&status=bounced")
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireFieldError(t, p, "f-overdue", "only active contacts can be overdue")
	require.Contains(t, p.Body, `<option value="bounced" selected>`)
	require.Regexp(t, `<input id="f-overdue"[^>]* checked`, p.Body)
	require.Empty(t, rowEmails(p.Body), "nothing is listed for a filter that cannot be read")
}

// TestContactListPages: the list goes a page at a time by cursor,
// keeping its filters.
func TestContactListPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 53 {
		b.addContact(fmt.Sprintf("p%02d@example.com", i), "low")
	}
	b.addContact("other@example.com", "high")
	c, _ := b.as(outreach.RoleViewer)
	p := c.get("/console/contacts?tier=low")
	rows := rowEmails(p.Body)
	require.Len(t, rows, 50)
	require.Equal(t, "p00@example.com", rows[0])
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">Next page →</a>`).FindStringSubmatch(p.Body)
	require.Len(t, next, 2)
	require.Contains(t, next[1], "tier=low")
	p = c.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	require.Equal(t, []string{"p50@example.com", "p51@example.com", "p52@example.com"}, rowEmails(p.Body))
	require.NotContains(t, p.Body, `rel="next"`)
}

// deferred gives the contact a delivery of a new campaign, waiting for a
// full cap until planned.
func (b *bundle) deferred(contactID int64, campaign string, planned time.Time) {
	b.t.Helper()
	ctx := context.Background()
	var campaignID, runID int64
	require.NoError(b.t, b.db.QueryRow(ctx, `INSERT INTO campaigns (name, topic, category, priority, content, status, created_at, updated_at)
		VALUES ($1, 'offers', 'marketing', 50, '{}', 'running', now(), now()) RETURNING id`, campaign).Scan(&campaignID))
	require.NoError(b.t, b.db.QueryRow(ctx, `INSERT INTO campaign_runs (campaign_id, fire_at, status, created_at, updated_at)
		VALUES ($1, now(), 'planned', now(), now()) RETURNING id`, campaignID).Scan(&runID))
	_, err := b.db.Exec(ctx, `INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, rule,
		planned_for, created_at, updated_at) VALUES ($1, $2, $3, true, 50, 'medium', 'scheduled', 'deferred_cap', 'cap 1/7d', $4, now(), now())`,
		runID, campaignID, contactID, planned)
	require.NoError(b.t, err)
}

// TestContactPage: the timeline says why a delivery waits, by which rule
// and until when, and who changed what; the effective cadence says which
// tier applies, whose choice it is and what it allows in plain words. A
// viewer sees no button and cannot post.
func TestContactPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	ada := b.addContact("ada@example.com", "medium", func(c *outreach.Contact) { c.Timezone = "Europe/Berlin" })
	planned := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Minute)
	b.deferred(ada.ID, "Spring offers", planned)
	_, err := b.store.SetPreferences(ctx, ada.ID, postgres.PrefOrigin{Actor: "customer"}, "low", nil)
	require.NoError(t, err)
	_, err = b.db.Exec(ctx, "INSERT INTO contact_last_sent (contact_id, last_sent_at) VALUES ($1, '2026-11-20T08:30:00Z')", ada.ID)
	require.NoError(t, err)

	c, _ := b.as(outreach.RoleViewer)
	path := "/console/contacts/" + itoa(ada.ID)
	p := c.get(path)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "<title>ada@example.com · rapport</title>")
	require.Contains(t, p.Body, "<dt>Last marketing email</dt><dd>20 Nov 2026 08:30 UTC</dd>")
	// The delivery: reason, rule (as code and in words) and planned_for.
	require.Contains(t, p.Body, "Spring offers")
	require.Contains(t, p.Body, "Deferred: a frequency cap was full</span> <code>deferred_cap</code>")
	require.Contains(t, p.Body, `<code class="rule">cap 1/7d</code> — At most one email a week.`)
	require.Contains(t, p.Body, `Waits until <strong class="planned-for">`+planned.Format("2 Jan 2006 15:04 UTC")+`</strong>`)
	// The preference change, with its actor.
	require.Regexp(t, `<td>Preferences changed</td>\s*<td><ul class="changes"><li><span class="change-field">preferred_tier</span>: <ins>low</ins></li></ul></td>\s*<td>customer</td>`, p.Body)
	// The cadence in force: the customer's stricter choice.
	require.Contains(t, p.Body, "<strong>Only important updates</strong> <span class=\"muted\">(low)</span>")
	require.Contains(t, p.Body, "customer’s choice")
	require.Contains(t, p.Body, "they asked for “Only important updates”, less mail than the assigned “About once a week”")
	require.Contains(t, p.Body, "<dd>At most one email every 30 days.</dd>")
	require.Contains(t, p.Body, "every day, 08:00–20:00, in the contact’s time zone, Europe/Berlin")
	require.Contains(t, p.Body, "we aim to write every 90 days</dd>", "not overdue: just added")
	// A viewer changes nothing.
	require.NotContains(t, p.Body, `action="`+path+`/tier"`)
	require.NotContains(t, p.Body, path+"/erase")
	audit := b.count("audit_log")
	require.Equal(t, http.StatusForbidden, c.post(path+"/tier", url.Values{"tier": {"high"}}).Status)
	require.Equal(t, http.StatusForbidden, c.post(path+"/erase", url.Values{"confirm": {"yes"}}).Status)
	require.Equal(t, http.StatusForbidden, c.get(path+"/erase").Status)
	got, err := b.store.Contact(ctx, ada.ID)
	require.NoError(t, err)
	require.Equal(t, "medium", got.Tier)
	require.Equal(t, audit, b.count("audit_log"))

	require.Equal(t, http.StatusNotFound, c.get("/console/contacts/999999").Status)
	require.Equal(t, http.StatusNotFound, c.get("/console/contacts/x").Status)
	require.Equal(t, http.StatusBadRequest, c.get(path+"?before=nonsense").Status)
}

// TestContactTimelinePages: a long timeline goes on by its cursor.
func TestContactTimelinePages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.addContact("ada@example.com", "medium")
	for i := range 55 {
		b.deferred(ada.ID, fmt.Sprintf("Campaign %02d", i), time.Now().Add(time.Duration(i+1)*time.Hour))
	}
	c, _ := b.as(outreach.RoleViewer)
	p := c.get("/console/contacts/" + itoa(ada.ID))
	require.Equal(t, 50, strings.Count(p.Body, `<tr class="tl-`))
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">Older →</a>`).FindStringSubmatch(p.Body)
	require.Len(t, next, 2)
	p = c.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, 6, strings.Count(p.Body, `<tr class="tl-`), "five deliveries and the contact's creation")
	require.Contains(t, p.Body, "Contact created")
	require.Contains(t, p.Body, "← Newest")
}

// TestContactTierAndErase: a marketer changes the assigned tier (through
// the store's UpdateContact, audited, on the timeline); a tier that does
// not exist comes back next to the field and writes nothing; erasing
// asks first and then goes the store's EraseContact way.
func TestContactTierAndErase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	ada := b.addContact("ada@example.com", "medium")
	c, marketer := b.as(outreach.RoleMarketer)
	path := "/console/contacts/" + itoa(ada.ID)

	p := c.get(path)
	require.Contains(t, p.Body, `action="`+path+`/tier"`)
	require.Contains(t, p.Body, `<option value="medium" selected>`)
	audit := b.count("audit_log")
	p = c.post(path+"/tier", url.Values{"tier": {"nope"}})
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireFieldError(t, p, "f-tier", "no such tier")
	require.Contains(t, p.Body, "Timeline", "the contact page comes back")
	require.Equal(t, audit, b.count("audit_log"), "nothing written")

	p = c.post(path+"/tier", url.Values{"tier": {"high"}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, path, p.Location)
	p = c.get(path)
	require.Contains(t, p.Body, "The assigned tier is now high.")
	require.Contains(t, p.Body, "<strong>Everything, up to daily</strong>")
	require.Contains(t, p.Body, "company’s choice")
	require.Contains(t, p.Body, "<dd>At most one email a day and three a week.</dd>")
	require.Regexp(t, `<td>Contact changed</td>\s*<td><ul class="changes"><li><span class="change-field">tier</span>: <del>medium</del> → <ins>high</ins></li></ul></td>\s*<td>user:`+regexp.QuoteMeta(marketer)+`</td>`, p.Body)
	got, err := b.store.Contact(ctx, ada.ID)
	require.NoError(t, err)
	require.Equal(t, "high", got.Tier)
	require.Equal(t, []string{"update contact"}, b.audited("user:"+marketer))

	// Erase: a POST that did not come from the confirmation page asks.
	p = c.post(path+"/erase", nil)
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, path+"/erase", p.Location)
	p = c.get(path + "/erase")
	require.Contains(t, p.Body, "<h1>Erase ada@example.com?</h1>")
	require.Contains(t, p.Body, "this cannot be undone")
	p = c.post(path+"/erase", url.Values{"confirm": {"yes"}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	p = c.get(path)
	require.Contains(t, p.Body, "ada@example.com is erased; the address is suppressed for good.")
	require.Contains(t, p.Body, "<h1>Erased contact "+itoa(ada.ID)+"</h1>")
	require.NotContains(t, p.Body, path+"/erase\"", "nothing more to erase")
	got, err = b.store.Contact(ctx, ada.ID)
	require.NoError(t, err)
	require.Equal(t, outreach.StatusErased, got.Status)
	reason, err := b.store.SuppressionOf(ctx, "ada@example.com")
	require.NoError(t, err)
	require.Equal(t, outreach.SuppressErased, reason)
	require.Equal(t, []string{"erase contact", "suppress suppression", "update contact"}, b.audited("user:"+marketer))
	var left int
	require.NoError(t, b.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE entity = 'contact' AND entity_id = $1
		AND (before IS NOT NULL OR after IS NOT NULL)`, itoa(ada.ID)).Scan(&left))
	require.Zero(t, left, "what the update recorded is scrubbed with the rest")
}

// TestOverdueStretches: within its budget, the overdue list reads
// stretch after stretch until its page is full or the contacts end.
func TestOverdueStretches(t *testing.T) {
	t.Parallel()
	b := setup(t, func(d *console.Deps) { d.OverdueScan, d.OverdueBudget = 1, time.Minute })
	for i := range 5 {
		b.addContact(fmt.Sprintf("fresh%d@example.com", i), "high")
	}
	old := b.addContact("old@example.com", "high")
	_, err := b.db.Exec(context.Background(), "UPDATE contacts SET created_at = now() - interval '20 days' WHERE id = $1", old.ID)
	require.NoError(t, err)
	c, _ := b.as(outreach.RoleViewer)
	p := c.get("/console/contacts?overdue=yes")
	require.Equal(t, []string{"old@example.com"}, rowEmails(p.Body))
	require.NotContains(t, p.Body, "Look further")
	require.NotContains(t, p.Body, "Looked through")
}
