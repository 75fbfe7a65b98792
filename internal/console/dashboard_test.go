package console_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/console"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// movingClock is a clock the test moves.
type movingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *movingClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *movingClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestDashboard: the dashboard draws sends per tier per day as an SVG
// chart with its table, what waits on a deferral, the queues, who is
// overdue and who left; the figures are kept for a minute, then shown
// while new ones are computed.
func TestDashboard(t *testing.T) {
	t.Parallel()
	clock := &movingClock{t: time.Now().UTC()}
	b := setup(t, func(d *console.Deps) { d.Clock = clock })
	ctx := context.Background()
	now := time.Now().UTC()
	newContact := func(email, tier string) outreach.Contact {
		c, _, err := b.store.UpsertContact(ctx, "test", outreach.Contact{Email: email, Name: email, Tier: tier})
		require.NoError(t, err)
		return c
	}
	ada := newContact("ada@example.com", "high")
	bob := newContact("bob@example.com", "medium")
	run := 0
	deliver := func(c outreach.Contact, tier, state, reason string, at time.Time) {
		run++
		var sent *time.Time
		if state == "sent" {
			sent = &at
		}
		_, err := b.db.Exec(ctx, `INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason,
			planned_for, sent_at, created_at, updated_at) VALUES ($1, 1, $2, true, 50, $3, $4, $5, $6, $7, now(), now())`,
			run, c.ID, tier, state, reason, at, sent)
		require.NoError(t, err)
	}
	deliver(ada, "high", "sent", "sent", now.Add(-time.Minute))
	deliver(ada, "high", "sent", "sent", now.Add(-time.Minute))
	deliver(bob, "medium", "sent", "sent", now.Add(-time.Minute))
	deliver(ada, "high", "scheduled", "deferred_cap", now.Add(48*time.Hour))
	deliver(bob, "medium", "scheduled", "deferred_send_window", now.Add(5*time.Hour))
	_, err := b.store.Unsubscribe(ctx, bob.ID, postgres.PrefOrigin{Actor: "customer"})
	require.NoError(t, err)
	_, err = b.store.Suppress(ctx, "webhook", ada.Email, outreach.SuppressComplaint)
	require.NoError(t, err)
	_, err = b.db.Exec(ctx, "UPDATE contacts SET status = 'active', created_at = now() - interval '40 days' WHERE id = $1", bob.ID)
	require.NoError(t, err)

	viewer, _ := b.as(outreach.RoleViewer)
	p := viewer.get("/console/")
	require.Equal(t, http.StatusOK, p.Status)
	svg := regexp.MustCompile(`(?s)<svg class="chart" .*?</svg>`).FindString(p.Body)
	require.NotEmpty(t, svg, "the sends chart")
	require.Contains(t, svg, `role="img" aria-labelledby="sent-chart-title sent-chart-desc"`)
	require.Contains(t, svg, `<title id="sent-chart-title">Marketing messages sent per day, by tier</title>`)
	require.Contains(t, svg, "3 messages from ")
	require.Contains(t, svg, "Everything, up to daily: 2; About once a week: 1; Only important updates: 0;")
	require.Equal(t, 2, strings.Count(svg, "<rect "), "one bar per tier with sends today")
	require.Contains(t, svg, `<text x="0" y="32" font-size="14" font-weight="600" fill="#18181b">Everything, up to daily</text>`, "the most frequent tier first")
	today := now.Format("2 Jan 2006")
	require.Regexp(t, `<tr><th scope="row" class="nowrap">`+today+`</th><td class="num">2</td><td class="num">1</td><td class="num">0</td><td class="num">3</td></tr>`, p.Body)

	deferred := regexp.MustCompile(`(?s)<svg class="chart chart-bars".*?</svg>`).FindString(p.Body)
	require.Contains(t, deferred, "A cap is full until then (deferred_cap): 1. Too soon after the last message (deferred_min_gap): 0. Outside the send window (deferred_send_window): 1.")
	require.Contains(t, p.Body, `<th scope="row">A cap is full until then <span class="badge reason-deferred_cap">deferred_cap</span></th><td>Everything, up to daily</td><td class="num">1</td>`)
	require.Contains(t, p.Body, "No job is waiting or running.")
	require.Contains(t, p.Body, `<tr><th scope="row">About once a week</th><td>every 30d</td><td class="num">1</td></tr>`, "bob: no mail for 40 days")
	require.Contains(t, p.Body, `<tr><th scope="row">Everything, up to daily</th><td class="num">2</td><td class="num">0</td><td class="num">0.0</td><td class="num">1</td><td class="num">500.0</td></tr>`)
	require.Contains(t, p.Body, `<tr><th scope="row">About once a week</th><td class="num">1</td><td class="num">1</td><td class="num">1000.0</td><td class="num">0</td><td class="num">0.0</td></tr>`)
	require.Contains(t, p.Body, `<a href="/console/tiers/high">Everything, up to daily</a></th><td>At most one email a day and three a week.`)
	require.Equal(t, 1, strings.Count(p.Body, `method="post"`), "nothing to press for a viewer")

	// Kept for a minute…
	deliver(bob, "medium", "sent", "sent", now.Add(-time.Second))
	p = viewer.get("/console/")
	require.Contains(t, p.Body, "3 messages from ")
	// … then shown once more while new ones are computed.
	clock.add(61 * time.Second)
	p = viewer.get("/console/")
	require.Contains(t, p.Body, "3 messages from ")
	require.Eventually(t, func() bool { return strings.Contains(viewer.get("/console/").Body, "4 messages from ") },
		10*time.Second, 20*time.Millisecond, "the new figures")
}
