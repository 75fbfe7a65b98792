package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestBrowserConsoleTiers drives the tier pages and the dashboard in
// headless chromium: an admin finds the tiers from most to least
// frequent, each in words, tries a bad change (kept, with the error at its
// field, nothing saved), makes a good one and finds it in the tier's
// history and in the audit log under their name, and the API serves the
// new rule; the dashboard draws its charts. Every page passes axe-core and
// is saved to testdata/output/console/.
func TestBrowserConsoleTiers(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	addr := freeAddr(t)
	base := "http://" + addr
	a := startApp(t, map[string]string{"HTTP_ADDR": addr, "PUBLIC_URL": base})
	// Something for the dashboard to draw: messages sent over the last
	// days to the three tiers, and a deferral waiting.
	_, err := a.DB.Exec(context.Background(), `
		INSERT INTO contacts (email, tier, created_at, updated_at) VALUES ('chart@example.com', 'high', now() - interval '40 days', now());
		INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, planned_for, sent_at, created_at, updated_at)
		SELECT g, 1, (SELECT id FROM contacts WHERE email = 'chart@example.com'), true, 50, (ARRAY['low','medium','high'])[1 + g % 3],
		       'sent', 'sent', now() - (g % 20) * interval '1 day', now() - (g % 20) * interval '1 day', now() - interval '21 days', now()
		FROM generate_series(1, 120) g;
		INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, planned_for, created_at, updated_at)
		VALUES (1000, 1, (SELECT id FROM contacts WHERE email = 'chart@example.com'), true, 50, 'high', 'scheduled', 'deferred_cap',
		        now() + interval '2 days', now(), now())`)
	require.NoError(t, err)

	admin := newConsoleTab(t, ctx, "tiers")
	admin.signInChanging(base, a.AdminEmail, a.AdminPassword, "an admin's own passphrase")

	// The dashboard's charts, with their figures.
	var charts, bars int
	// (The fatigue and pressure charts are TestBrowserConsoleInsight's.)
	const sentAndDeferred = `svg.chart[aria-labelledby^="sent-chart"], svg.chart[aria-labelledby^="deferred-chart"]`
	admin.run(waitFor(`document.querySelectorAll('`+sentAndDeferred+`').length === 2`),
		chromedp.Evaluate(`document.querySelectorAll('`+sentAndDeferred+`').length`, &charts),
		chromedp.Evaluate(`[...document.querySelectorAll('`+sentAndDeferred+`')].reduce((n, s) => n + s.querySelectorAll("rect").length, 0)`, &bars))
	require.Equal(t, 2, charts)
	require.Greater(t, bars, 20, "a bar per tier and day with sends, and the deferral bars")
	var label string
	admin.run(chromedp.Evaluate(`document.getElementById("sent-chart-desc").textContent`, &label))
	require.True(t, strings.HasPrefix(label, "120 messages from "), label)
	admin.page("dashboard")

	// The tiers, most frequent first, in words.
	var names []string
	admin.run(click(`nav a[href="/console/tiers"]`), heading("Tiers"),
		chromedp.Evaluate(`[...document.querySelectorAll("table.tiers tbody th a")].map(a => a.textContent)`, &names))
	require.Equal(t, []string{"Everything, up to daily", "About once a week", "Only important updates"}, names)
	admin.page("tiers")
	admin.run(click(`a[href="/console/tiers/high"]`), heading("Everything, up to daily"))
	admin.page("tier")

	// A bad change: the errors at their fields, the values kept, nothing
	// saved.
	admin.run(setValue("#f-caps-0-max", "0"), setValue("#f-caps-1-window", "7x"),
		click(`form[action="/console/tiers/high"] button[type=submit]`), waitFor(`document.querySelector("#f-caps-1-window-error")`))
	var msg, kept string
	admin.run(text("#f-caps-1-window-error", &msg), chromedp.Value("#f-caps-1-window", &kept, chromedp.ByQuery))
	require.Equal(t, `Error: invalid duration "7x": unknown unit "x" (use w, d, h, m or s)`, strings.TrimSpace(msg))
	require.Equal(t, "7x", kept)
	admin.run(text("#f-caps-0-max-error", &msg))
	require.Equal(t, "Error: must be at least 1", strings.TrimSpace(msg))
	var focused string
	admin.run(chromedp.Evaluate(`document.activeElement.className`, &focused))
	require.Equal(t, "error-summary", focused, "the summary takes focus")
	admin.page("tier-error")
	var api struct {
		Version int `json:"version"`
		Caps    []struct {
			Max    int    `json:"max"`
			Window string `json:"window"`
		} `json:"caps"`
		MinGap string `json:"min_gap"`
	}
	code, _ := a.call("GET", "/api/v1/tiers/high", a.Key, nil, &api)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 1, api.Version, "nothing saved")

	// A good one: saved, and in the history.
	admin.run(setValue("#f-caps-0-max", "2"), setValue("#f-caps-1-window", "7d"), setValue("#f-min-gap", "12h"),
		click(`form[action="/console/tiers/high"] button[type=submit]`), flashSays("is saved as version 2"))
	var history string
	admin.run(text("table.history tbody tr:first-child", &history))
	history = strings.Join(strings.Fields(history), " ")
	require.Contains(t, history, "user:"+a.AdminEmail)
	require.Contains(t, history, "1 per 1d, 3 per 7d → now 2 per 1d, 3 per 7d")
	require.Contains(t, history, "Min gap: was none → now 12h")
	require.Contains(t, history, "now At most two emails a day and three a week. At least 12 hours between two emails.")
	admin.page("tier-saved")
	code, _ = a.call("GET", "/api/v1/tiers/high", a.Key, nil, &api)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 2, api.Version)
	require.Equal(t, 2, api.Caps[0].Max)
	require.Equal(t, "12h", api.MinGap)

	// The audit log, under the admin's name.
	admin.run(chromedp.Navigate(base+"/console/audit?entity=tier"), heading("Audit log"))
	var first []string
	admin.run(chromedp.Evaluate(`[...document.querySelector("#results tbody tr").children].map(td => td.textContent.trim())`, &first))
	require.Equal(t, "user:"+a.AdminEmail, first[1])
	require.Equal(t, "update", first[2])
	require.Contains(t, first[3], "tier high")
	admin.page("audit-tier")

	// A new tier.
	admin.run(chromedp.Navigate(base+"/console/tiers/new"), heading("New tier"))
	admin.page("tier-new")
	admin.run(setValue("#f-key", "partners"), setValue("#f-name", "Partner programme"), setValue("#f-rank", "40"),
		click(`form[action="/console/tiers"] button[type=submit]`), flashSays("The tier Partner programme is created"),
		heading("Partner programme"))
	admin.page("tier-created")
}
