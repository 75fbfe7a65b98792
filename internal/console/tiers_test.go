package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// highForm is the "high" tier as shipped, as its form posts it.
func highForm() url.Values {
	return url.Values{"name": {"Everything, up to daily"}, "description": {"High relationship: evangelists and major accounts who want to hear more."},
		"rank": {"30"}, "selectable": {"yes"}, "version": {"1"},
		"caps.0.max": {"1"}, "caps.0.window": {"1d"}, "caps.1.max": {"3"}, "caps.1.window": {"7d"}, "caps.2.max": {""}, "caps.2.window": {""},
		"min_gap": {""}, "target_interval": {"14d"},
		"send_window.days": {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, "send_window.start": {"08:00"}, "send_window.end": {"20:00"}}
}

// with is a copy of a form with fields set, without the form token a
// post added to it (each client sends its own).
func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vals := range v {
		out[k] = append([]string(nil), vals...)
	}
	out.Del("csrf")
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// TestTierPagesByRole: everyone reads the tiers, most frequent first, each
// rule in words; viewers and marketers get no form and no button, and
// their POSTs are refused without writing anything; admins get the form,
// filled in with the tier as it is.
func TestTierPagesByRole(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, role := range []outreach.Role{outreach.RoleViewer, outreach.RoleMarketer} {
		c, _ := b.as(role)
		p := c.get("/console/tiers")
		require.Equal(t, http.StatusOK, p.Status)
		high := strings.Index(p.Body, ">Everything, up to daily</a>")
		medium := strings.Index(p.Body, ">About once a week</a>")
		low := strings.Index(p.Body, ">Only important updates</a>")
		require.True(t, high > 0 && high < medium && medium < low, "most to least frequent")
		require.Contains(t, p.Body, "<td>At most one email a day and three a week. Only between 08:00 and 20:00 local time. We aim to write at least once every two weeks.</td>")
		require.NotContains(t, p.Body, "/console/tiers/new", role)

		p = c.get("/console/tiers/high")
		require.Equal(t, http.StatusOK, p.Status)
		require.Contains(t, p.Body, `<p class="meaning">At most one email a day and three a week.`)
		require.Contains(t, p.Body, "<dt>Caps</dt><dd>1 per 1d, 3 per 7d</dd>")
		require.Contains(t, p.Body, "<dd>every day 08:00–20:00 ")
		require.NotContains(t, p.Body, `action="/console/tiers/high"`, "no form")
		require.Equal(t, 1, strings.Count(p.Body, `method="post"`), "the sign-out button is their only form")

		audit := b.count("audit_log")
		p = c.post("/console/tiers/high", with(highForm(), "caps.0.max", "5"))
		require.Equal(t, http.StatusForbidden, p.Status)
		require.Contains(t, p.Body, "it needs admin")
		p = c.post("/console/tiers", with(highForm(), "key", "vip"))
		require.Equal(t, http.StatusForbidden, p.Status)
		require.Equal(t, http.StatusForbidden, c.get("/console/tiers/new").Status)
		require.Equal(t, audit, b.count("audit_log"), "nothing written")
		tier, err := b.store.Tier(context.Background(), "high")
		require.NoError(t, err)
		require.Equal(t, 1, tier.Version)
		require.Equal(t, 1, tier.Rule.Caps[0].Max)
	}

	admin, _ := b.as(outreach.RoleAdmin)
	p := admin.get("/console/tiers")
	require.Contains(t, p.Body, `href="/console/tiers/new"`)
	p = admin.get("/console/tiers/high")
	require.Contains(t, p.Body, `<form method="post" action="/console/tiers/high" novalidate>`)
	for _, want := range []string{`name="caps.0.max" value="1"`, `name="caps.0.window" value="1d"`, `name="caps.1.max" value="3"`,
		`name="caps.1.window" value="7d"`, `name="caps.2.max" value=""`, `name="target_interval" type="text" value="14d"`,
		`name="send_window.start" type="text" value="08:00"`, `name="send_window.end" type="text" value="20:00"`,
		`name="send_window.days" value="mon" checked`, `name="selectable" value="yes" checked`, `name="version" value="1"`} {
		require.Contains(t, p.Body, want)
	}
	require.Equal(t, http.StatusNotFound, admin.get("/console/tiers/platinum").Status)
}

// TestTierEdit: bad values come back at their fields, kept, with nothing
// written — what the form cannot read and what Tier.Validate refuses
// alike; a good change is a new version, audited under the admin, shown
// in the history as a diff; the same form again writes nothing; a form
// opened before someone else saved is not saved over their change.
func TestTierEdit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, admin := b.as(outreach.RoleAdmin)
	c.get("/console/tiers/high")
	audit := b.count("audit_log")

	// What the form cannot even read, and Validate's errors with it.
	p := c.post("/console/tiers/high", with(highForm(), "name", "", "caps.0.max", "0", "caps.1.window", "7x", "min_gap", "soon",
		"send_window.days", ""))
	require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
	requireFieldError(t, p, "f-caps-1-window", `invalid duration &#34;7x&#34;: unknown unit &#34;x&#34; (use w, d, h, m or s)`)
	requireFieldError(t, p, "f-min-gap", `invalid duration &#34;soon&#34;`)
	requireFieldError(t, p, "f-caps-0-max", "must be at least 1")
	requireFieldError(t, p, "f-name", "is required (at most 200 characters)")
	require.Contains(t, p.Body, `id="f-send-window-days-error"><strong>Error:</strong> unknown day`)
	require.Contains(t, p.Body, `<a href="#f-send-window-days">`)
	require.Contains(t, p.Body, `name="caps.1.window" value="7x"`, "values are kept")
	require.Contains(t, p.Body, `name="min_gap" type="text" value="soon"`)

	// All readable, refused by Tier.Validate in the store (the API's PUT
	// path): a window that ends before it starts, no day at all.
	bad := with(highForm(), "send_window.start", "20:00", "send_window.end", "08:00", "caps.0.max", "0")
	bad.Del("send_window.days")
	p = c.post("/console/tiers/high", bad)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status, p.Body)
	requireFieldError(t, p, "f-send-window-start", "start must be before end on the same day (e.g. 09:00–20:00)")
	requireFieldError(t, p, "f-caps-0-max", "must be at least 1")
	require.Contains(t, p.Body, `id="f-send-window-days-error"><strong>Error:</strong> at least one day is required`)
	require.Contains(t, p.Body, `name="send_window.start" type="text" value="20:00"`)
	require.NotContains(t, p.Body, `name="send_window.days" value="mon" checked`, "the days as posted: none")
	require.Equal(t, audit, b.count("audit_log"), "nothing written")
	tier, err := b.store.Tier(context.Background(), "high")
	require.NoError(t, err)
	require.Equal(t, 1, tier.Version)

	// A good change.
	good := with(highForm(), "caps.0.max", "2", "min_gap", "12h", "target_interval", "10d", "send_window.start", "09:00", "send_window.end", "17:00")
	good.Del("selectable")
	good["send_window.days"] = []string{"mon", "tue", "wed", "thu", "fri"}
	p = c.post("/console/tiers/high", with(good))
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, "/console/tiers/high", p.Location)
	tier, err = b.store.Tier(context.Background(), "high")
	require.NoError(t, err)
	require.Equal(t, 2, tier.Version)
	require.Equal(t, []outreach.Cap{{Max: 2, Window: outreach.Duration(24 * time.Hour)}, {Max: 3, Window: outreach.Duration(7 * 24 * time.Hour)}}, tier.Rule.Caps)
	require.Equal(t, 12*time.Hour, tier.Rule.MinGap)
	require.Equal(t, 10*24*time.Hour, tier.Rule.TargetInterval)
	require.Equal(t, outreach.SendWindow{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, Start: 9 * 60, End: 17 * 60}, tier.Rule.SendWindow)
	require.False(t, tier.Selectable)
	require.Equal(t, []string{"update tier"}, b.audited("user:"+admin), "the admin is the actor")

	// The history: who, when, each field before and after.
	p = c.get("/console/tiers/high")
	require.Contains(t, p.Body, "The tier Everything, up to daily is saved as version 2")
	row := regexp.MustCompile(`(?s)<tr>\s*<th scope="row">2</th>.*?</tr>`).FindString(p.Body)
	require.NotEmpty(t, row, "version 2 in the history")
	require.Contains(t, row, "<td>user:"+admin+"</td>")
	for _, want := range []string{
		`<span class="change-field">Customers may choose it</span>: <del><span class="visually-hidden">was </span>yes</del> → <ins><span class="visually-hidden">now </span>no</ins>`,
		`<span class="change-field">Caps</span>: <del><span class="visually-hidden">was </span>1 per 1d, 3 per 7d</del> → <ins><span class="visually-hidden">now </span>2 per 1d, 3 per 7d</ins>`,
		`<span class="change-field">Min gap</span>: <del><span class="visually-hidden">was </span>none</del> → <ins><span class="visually-hidden">now </span>12h</ins>`,
		`<span class="change-field">Target interval</span>: <del><span class="visually-hidden">was </span>14d</del>`,
		`<span class="change-field">Send window</span>: <del><span class="visually-hidden">was </span>every day 08:00–20:00</del> → <ins><span class="visually-hidden">now </span>mon, tue, wed, thu, fri 09:00–17:00</ins>`,
		`<ins><span class="visually-hidden">now </span>At most two emails a day and three a week. At least 12 hours between two emails. Only Monday to Friday, between 09:00 and 17:00 local time. We aim to write at least once every 10 days.</ins>`,
	} {
		require.Contains(t, row, want)
	}
	require.NotContains(t, row, `change-field">Name`, "unchanged fields are not listed")
	require.NotContains(t, row, `change-field">Rank`)

	// The same form again: nothing written.
	good.Set("version", "2")
	audit = b.count("audit_log")
	p = c.post("/console/tiers/high", with(good))
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Contains(t, c.get("/console/tiers/high").Body, "Nothing changed")
	require.Equal(t, audit, b.count("audit_log"))

	// A form from before someone else's save is not saved over it.
	other, _ := b.as(outreach.RoleAdmin)
	other.get("/console/tiers/high")
	op := other.post("/console/tiers/high", with(good, "rank", "31"))
	require.Equal(t, http.StatusSeeOther, op.Status, op.Body)
	p = c.post("/console/tiers/high", with(good, "name", "Daily"))
	require.Equal(t, http.StatusConflict, p.Status)
	require.Contains(t, p.Body, "Someone saved this tier since you opened it (now version 3)")
	require.Contains(t, p.Body, `name="name" type="text" value="Daily"`, "their change is kept in the form")
	require.Contains(t, p.Body, `name="version" value="3"`, "saving again is possible")
	tier, err = b.store.Tier(context.Background(), "high")
	require.NoError(t, err)
	require.Equal(t, "Everything, up to daily", tier.Name)
	require.Equal(t, 31, tier.Rank)
}

// TestTierCreate: an admin creates a tier; a bad or taken key comes back
// at its field.
func TestTierCreate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, admin := b.as(outreach.RoleAdmin)
	p := c.get("/console/tiers/new")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, `name="caps.0.window" value="7d"`, "an example cap")
	tiers := b.count("tiers")
	form := with(highForm(), "key", "Not A Key", "name", "Partners", "rank", "")
	p = c.post("/console/tiers", form)
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireFieldError(t, p, "f-key", "must be a lower-case slug")
	requireFieldError(t, p, "f-rank", "is required (higher means a closer relationship)")
	p = c.post("/console/tiers", with(form, "key", "high", "rank", "40"))
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	requireFieldError(t, p, "f-key", "a tier with this key exists")
	require.Equal(t, tiers, b.count("tiers"))

	p = c.post("/console/tiers", with(form, "key", "partners", "rank", "40", "caps.0.max", "2"))
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, "/console/tiers/partners", p.Location)
	tier, err := b.store.Tier(context.Background(), "partners")
	require.NoError(t, err)
	require.Equal(t, "Partners", tier.Name)
	require.Equal(t, 2, tier.Rule.Caps[0].Max)
	require.Equal(t, []string{"create tier"}, b.audited("user:"+admin))
	p = c.get("/console/tiers/partners")
	require.Contains(t, p.Body, "The tier Partners is created")
	require.Contains(t, p.Body, `<span class="muted">(created)</span>`)
	require.Contains(t, p.Body, `<span class="change-field">Caps</span>: <ins><span class="visually-hidden">now </span>2 per 1d, 3 per 7d</ins>`)
	p = c.get("/console/tiers")
	require.Less(t, strings.Index(p.Body, ">Partners</a>"), strings.Index(p.Body, ">Everything, up to daily</a>"), "two a day is the most frequent")
}
