package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestBrowserConsoleInsight drives tuning a tier in headless chromium
// against `rapport serve`: an admin finds the fatigue chart and the
// pressure curve on the dashboard and on a tier's page, previews a rule
// (htmx swaps the result in, the page does not move, nothing is saved)
// and reads its before and after, and accepts a drift suggestion after
// its confirmation. Every page passes axe-core and is saved to
// testdata/output/console/console-insight-*.png.
func TestBrowserConsoleInsight(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	addr := freeAddr(t)
	base := "http://" + addr
	a := startApp(t, map[string]string{"HTTP_ADDR": addr, "PUBLIC_URL": base})
	fatigueWorld(t, a)
	a.rollup(time.Now().UTC())
	whatIfWorld(t, a)
	// A medium contact not written to for 70 days: overdue, past twice
	// the tier's target interval, so the drift rules suggest low.
	_, err := a.DB.Exec(context.Background(), `WITH c AS (INSERT INTO contacts (email, tier, timezone, status, created_at, updated_at)
		VALUES ('drift@example.com', 'medium', 'UTC', 'active', now() - interval '400 days', now()) RETURNING id)
		INSERT INTO contact_last_sent (contact_id, last_sent_at) SELECT id, now() - interval '70 days' FROM c`)
	require.NoError(t, err)
	drifting := a.id("drift@example.com")

	tab := newConsoleTab(t, ctx, "console-insight")
	tab.signInChanging(base, a.AdminEmail, a.AdminPassword, "an admin's own passphrase")

	// The dashboard: fatigue per tier and week, the pressure curve, each
	// with its table.
	tab.run(waitFor(`document.getElementById("fatigue-chart-title")`))
	var desc string
	var rows int
	tab.run(chromedp.Evaluate(`document.getElementById("fatigue-chart-desc").textContent`, &desc),
		chromedp.Evaluate(`document.querySelectorAll("#fatigue-table tbody tr").length`, &rows))
	require.Contains(t, desc, "Everything, up to daily: 6 negative events for 8 messages sent, 750.0 per 1,000.")
	require.GreaterOrEqual(t, rows, 5, "a row per tier and week with sends")
	var pressure string
	tab.run(chromedp.Evaluate(`document.getElementById("pressure-chart-title").textContent`, &pressure))
	require.Equal(t, "Negative events per 1,000 contact-days, by messages in the 30 days before", pressure)
	var campaigns string
	tab.run(chromedp.Evaluate(`document.querySelector('a[href="/console/campaigns/new"]').textContent`, &campaigns))
	require.Equal(t, "New campaign", campaigns)
	tab.page("dashboard")

	// A tier's page: that tier's figures.
	tab.run(chromedp.Navigate(base+"/console/tiers/high"), heading("Everything, up to daily"),
		waitFor(`document.getElementById("fatigue-chart-tier-title")`))
	var first string
	tab.run(text("#fatigue-table tbody tr:first-child", &first))
	require.True(t, strings.HasPrefix(strings.Join(strings.Fields(first), " "), "Everything, up to daily W"), first)
	tab.page("tier")

	// The what-if: daily instead of weekly, previewed in place.
	tab.run(chromedp.Navigate(base+"/console/tiers/weekly"), heading("Weekly"))
	tab.run(setValue("#f-caps-0-window", "24h"), click(`button[formaction="/console/tiers/weekly/what-if"]`),
		waitFor(`document.getElementById("whatif-sent")`))
	var sent, path, window string
	var tally []string
	tab.run(text("#whatif-sent", &sent), chromedp.Evaluate(`location.pathname`, &path),
		chromedp.Value("#f-caps-0-window", &window, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll("#whatif-tally tbody tr")].map(r => [...r.cells].slice(1).map(c => c.textContent).join(" "))`, &tally))
	require.Equal(t, "4 → 6", sent, "sent before → after")
	require.Equal(t, []string{"4 6 +2", "1 0 −1", "1 0 −1", "1 0 −1", "1 1 0"}, tally, "sent, deferred, expired, pending, skipped")
	require.Equal(t, "/console/tiers/weekly", path, "htmx swapped the result in; the page did not change")
	require.Equal(t, "24h", window, "the form as typed")
	var hist []string
	tab.run(chromedp.Evaluate(`[...document.querySelectorAll("#whatif-histogram tbody tr")].map(r => [...r.cells].map(c => c.textContent).join(" "))`, &hist))
	require.Equal(t, []string{"0 0 0", "1 0 0", "2 2 1", "3 0 0", "4–5 0 1", "6–9 0 0", "10+ 0 0"}, hist)
	tab.page("what-if")
	var tier struct{ Version int }
	a.call("GET", "/api/v1/tiers/weekly", a.Key, nil, &tier)
	require.Equal(t, 1, tier.Version, "a preview saves nothing")

	// A refused rule: the error at its field, in place.
	tab.run(setValue("#f-caps-0-max", "0"), click(`button[formaction="/console/tiers/weekly/what-if"]`),
		waitFor(`document.getElementById("f-caps-0-max-error")`))
	var msg string
	tab.run(text("#f-caps-0-max-error", &msg))
	require.Equal(t, "Error: must be at least 1", strings.TrimSpace(msg))
	// Days out of range as well: both errors at their fields at once.
	tab.run(setValue("#f-days", "91"), click(`button[formaction="/console/tiers/weekly/what-if"]`),
		waitFor(`document.getElementById("f-days-error")`))
	var days string
	tab.run(text("#f-caps-0-max-error", &msg), text("#f-days-error", &days))
	require.Equal(t, "Error: must be at least 1", strings.TrimSpace(msg))
	require.Equal(t, "Error: must be a whole number from 1 to 90", strings.TrimSpace(days))
	tab.page("what-if-error")

	// A drifting contact of medium: accepted after the confirmation.
	tab.run(chromedp.Navigate(base+"/console/tiers/medium"), heading("About once a week"),
		waitFor(`document.getElementById("drift-table")`))
	var evidence string
	row := fmt.Sprintf(`#drift-table a[href="/console/contacts/%d"]`, drifting)
	tab.run(chromedp.Evaluate(`document.querySelector('`+row+`').closest("tr").textContent`, &evidence))
	require.Contains(t, strings.Join(strings.Fields(evidence), " "), "About once a week → Only important updates")
	require.Contains(t, evidence, "Overdue: no message for 70 days")
	tab.page("drift")
	tab.run(click(fmt.Sprintf(`a[href="/console/tiers/medium/drift/%d/accept"]`, drifting)),
		heading("Move drift@example.com to Only important updates?"))
	tab.page("drift-confirm")
	tab.run(click(`main form button[type=submit]`), flashSays("drift@example.com is now in Only important updates"))
	tab.page("drift-accepted")
	var contact struct{ Tier string }
	a.call("GET", fmt.Sprintf("/api/v1/contacts/%d", drifting), a.Key, nil, &contact)
	require.Equal(t, "low", contact.Tier)
}
