package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/console"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/tuning"
)

// history writes a made-up past straight into the tables, in one
// transaction, as cmd/rapport's insight tests do: contacts back-dated,
// campaigns, runs, deliveries and timeline events with known times.
type history struct {
	b     *bundle
	stmts []string
}

func ts(t time.Time) string { return "'" + t.UTC().Format(time.RFC3339Nano) + "'::timestamptz" }

func sqlStr(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (h *history) contact(email, tier, preferred, status string, created time.Time, lastSent *time.Time) {
	pref := "NULL"
	if preferred != "" {
		pref = sqlStr(preferred)
	}
	h.stmts = append(h.stmts, fmt.Sprintf(`INSERT INTO contacts (email, tier, preferred_tier, timezone, status, created_at, updated_at)
		VALUES (%s, %s, %s, 'UTC', %s, %s, %s)`, sqlStr(email), sqlStr(tier), pref, sqlStr(status), ts(created), ts(created)))
	if lastSent != nil {
		h.stmts = append(h.stmts, fmt.Sprintf(`INSERT INTO contact_last_sent (contact_id, last_sent_at)
			SELECT id, %s FROM contacts WHERE email = %s`, ts(*lastSent), sqlStr(email)))
	}
}

func (h *history) campaign(name string) {
	h.stmts = append(h.stmts, fmt.Sprintf(`INSERT INTO campaigns (name, topic, category, priority, content, status, created_at, updated_at)
		VALUES (%s, 'offers', 'marketing', 50, '{"subject":"s","text":"t","html":"h"}', 'completed', now(), now())`, sqlStr(name)))
}

func (h *history) run(campaign string, fire, exp time.Time) {
	h.stmts = append(h.stmts, fmt.Sprintf(`INSERT INTO campaign_runs (campaign_id, fire_at, expires_at, status, created_at, updated_at)
		SELECT id, %s, %s, 'completed', %s, %s FROM campaigns WHERE name = %s`, ts(fire), ts(exp), ts(fire), ts(fire), sqlStr(campaign)))
}

func (h *history) delivery(campaign string, fire time.Time, email, tier, state, reason string, planned time.Time, sent *time.Time) {
	s := "NULL"
	if sent != nil {
		s = ts(*sent)
	}
	h.stmts = append(h.stmts, fmt.Sprintf(`INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason,
		planned_for, expires_at, sent_at, created_at, updated_at)
		SELECT r.id, r.campaign_id, c.id, true, 50, %s, %s, %s, %s, r.expires_at, %s, %s, %s
		FROM campaign_runs r JOIN campaigns k ON k.id = r.campaign_id, contacts c
		WHERE k.name = %s AND r.fire_at = %s AND c.email = %s`,
		sqlStr(tier), sqlStr(state), sqlStr(reason), ts(planned), s, ts(fire), ts(fire), sqlStr(campaign), ts(fire), sqlStr(email)))
}

func (h *history) event(email, kind, detail string, at time.Time) {
	h.stmts = append(h.stmts, fmt.Sprintf(`INSERT INTO contact_events (contact_id, kind, detail, actor, created_at)
		SELECT id, %s, %s::jsonb, 'customer', %s FROM contacts WHERE email = %s`, sqlStr(kind), sqlStr(detail), ts(at), sqlStr(email)))
}

func (h *history) commit() {
	t := h.b.t
	t.Helper()
	ctx := context.Background()
	tx, err := h.b.db.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	for _, s := range h.stmts {
		tag, err := tx.Exec(ctx, s)
		require.NoError(t, err, s)
		require.Equal(t, int64(1), tag.RowsAffected(), s)
	}
	require.NoError(t, tx.Commit(ctx))
	h.stmts = nil
}

func (b *bundle) id(email string) int64 {
	b.t.Helper()
	var id int64
	require.NoError(b.t, b.db.QueryRow(context.Background(), "SELECT id FROM contacts WHERE email = $1", email).Scan(&id))
	return id
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// fixedInsights makes the console's insight service read at now, and
// returns a function that runs the rollup (the insight_rollup job's work)
// at now.
func fixedInsights(now time.Time) (func(*console.Deps), func(*bundle)) {
	clock := fixedClock{now}
	tune := func(d *console.Deps) {
		d.Insights = tuning.New(d.Store, d.Campaigns, tuning.Config{Clock: clock})
	}
	roll := func(b *bundle) {
		b.t.Helper()
		_, err := tuning.New(postgres.NewStore(b.db, clock), nil, tuning.Config{Clock: clock}).Rollup(context.Background())
		require.NoError(b.t, err)
	}
	return tune, roll
}

var (
	rowRE  = regexp.MustCompile(`(?s)<tr>(.*?)</tr>`)
	cellRE = regexp.MustCompile(`(?s)<t[hd][^>]*>(.*?)</t[hd]>`)
	tagRE  = regexp.MustCompile(`<[^>]+>`)
	wsRE   = regexp.MustCompile(`\s+`)
)

// table is the rows of the table with the id, each a line of its cells'
// text joined by " | ", head and foot included.
func table(t *testing.T, body, id string) []string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	require.Positive(t, i, "table "+id)
	end := strings.Index(body[i:], "</table>")
	var out []string
	for _, r := range rowRE.FindAllStringSubmatch(body[i:i+end], -1) {
		var cells []string
		for _, c := range cellRE.FindAllStringSubmatch(r[1], -1) {
			cells = append(cells, strings.TrimSpace(wsRE.ReplaceAllString(html.UnescapeString(tagRE.ReplaceAllString(c[1], " ")), " ")))
		}
		out = append(out, strings.Join(cells, " | "))
	}
	return out
}

// fatigueWorld is cmd/rapport's: a fortnight W47–W48 of 2026, both closed
// at now, Monday 30 November 2026, 12:00 UTC, and a run the week before.
//
//	contacts (created 6 Nov): h1..h4 high, m1 m2 medium
//	A 11 Nov: sent h1 h2 h3
//	A 17 Nov: sent h1 h2 h3 h4 (high) and m1 m2 (medium)
//	B 24 Nov: sent h2 m1; h1 skipped (unsubscribed), h3 skipped (paused)
//	18 Nov h1 unsubscribes, h2 chooses medium and opts out of 2 topics,
//	19 Nov h4 hard-bounces, 25 Nov m1 pauses, h3 complains (no campaign
//	within 7 days), 26 Nov m2 chooses high (not a downgrade), m1 resumes.
func fatigueWorld(b *bundle) time.Time {
	d0 := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	at := func(days, hour int) time.Time { return d0.AddDate(0, 0, days).Add(time.Duration(hour) * time.Hour) }
	p := func(t time.Time) *time.Time { return &t }
	h := &history{b: b}
	for _, c := range []struct{ email, tier, pref, status string }{
		{"h1@example.com", "high", "", "unsubscribed"}, {"h2@example.com", "high", "medium", "active"},
		{"h3@example.com", "high", "", "complained"}, {"h4@example.com", "high", "", "bounced"},
		{"m1@example.com", "medium", "", "active"}, {"m2@example.com", "medium", "high", "active"},
	} {
		h.contact(c.email, c.tier, c.pref, c.status, at(-10, 0), nil)
	}
	h.campaign("A")
	h.campaign("B")
	h.run("A", at(-5, 9), at(-3, 9))
	h.run("A", at(1, 9), at(3, 9))
	h.run("B", at(8, 9), at(10, 9))
	for _, e := range []string{"h1", "h2", "h3"} {
		h.delivery("A", at(-5, 9), e+"@example.com", "high", "sent", "sent", at(-5, 10), p(at(-5, 10)))
	}
	for _, e := range []string{"h1", "h2", "h3", "h4"} {
		h.delivery("A", at(1, 9), e+"@example.com", "high", "sent", "sent", at(1, 10), p(at(1, 10)))
	}
	for _, e := range []string{"m1", "m2"} {
		h.delivery("A", at(1, 9), e+"@example.com", "medium", "sent", "sent", at(1, 11), p(at(1, 11)))
	}
	h.delivery("B", at(8, 9), "h1@example.com", "high", "skipped", "unsubscribed", at(8, 9), nil)
	h.delivery("B", at(8, 9), "h2@example.com", "high", "sent", "sent", at(8, 10), p(at(8, 10)))
	h.delivery("B", at(8, 9), "h3@example.com", "high", "skipped", "paused", at(8, 9), nil)
	h.delivery("B", at(8, 9), "m1@example.com", "medium", "sent", "sent", at(8, 10), p(at(8, 10)))
	h.event("h1@example.com", "unsubscribed", `{"before":{"status":"active"},"after":{"status":"unsubscribed"}}`, at(2, 12))
	h.event("h2@example.com", "preferences_changed", `{"before":{"preferred_tier":"","topics_opted_out":[]},
		"after":{"preferred_tier":"medium","topics_opted_out":["events","offers"]}}`, at(2, 13))
	h.event("h4@example.com", "suppressed", `{"reason":"hard_bounce"}`, at(3, 9))
	h.event("m1@example.com", "paused", `{}`, at(9, 8))
	h.event("h3@example.com", "suppressed", `{"reason":"complaint"}`, at(9, 12))
	h.event("m2@example.com", "preferences_changed", `{"before":{"preferred_tier":"","topics_opted_out":[]},
		"after":{"preferred_tier":"high","topics_opted_out":[]}}`, at(10, 9))
	h.event("m1@example.com", "resumed", `{}`, at(10, 10))
	h.commit()
	return time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
}

// TestFatigueAndPressureFigures: the dashboard and a tier's page show the
// API's fatigue and pressure figures (same service, same rollups) as
// charts and tables, with how events are attributed in words.
func TestFatigueAndPressureFigures(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	tune, roll := fixedInsights(now)
	b := setup(t, tune)
	fatigueWorld(b)
	roll(b)

	viewer, _ := b.as(outreach.RoleViewer)
	p := viewer.get("/console/")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "3 Nov 2026 to 30 Nov 2026, UTC, by ISO week; days closed up to 29 Nov 2026")
	require.Contains(t, p.Body, "the tier of their last delivery planned before it")
	require.Contains(t, p.Body, "the last campaign that sent them a marketing message within the 7 days before it")
	const high, medium = "Everything, up to daily", "About once a week"
	require.Equal(t, []string{
		"Tier | Week | Sent | Unsubscribes | Complaints | Hard bounces | Downgrades | Pauses | Topic opt-outs | All events | All per 1,000",
		high + " | W46 (9 Nov) | 3 | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 | 0.0",
		high + " | W47 (16 Nov) | 4 | 1 (250.0) | 0 (0.0) | 1 (250.0) | 1 (250.0) | 0 (0.0) | 2 (500.0) | 5 | 1250.0",
		high + " | W48 (23 Nov) | 1 | 0 (0.0) | 1 (1000.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 1 | 1000.0",
		medium + " | W47 (16 Nov) | 2 | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 | 0.0",
		medium + " | W48 (23 Nov) | 1 | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 1 (1000.0) | 0 (0.0) | 1 | 1000.0",
		high + " | all weeks | 8 | 1 (125.0) | 1 (125.0) | 1 (125.0) | 1 (125.0) | 0 (0.0) | 2 (250.0) | 6 | 750.0",
		medium + " | all weeks | 3 | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 1 (333.3) | 0 (0.0) | 1 | 333.3",
	}, table(t, p.Body, "fatigue-table"))
	fatigue := regexp.MustCompile(`(?s)<svg[^>]*aria-labelledby="fatigue-chart-title.*?</svg>`).FindString(p.Body)
	require.Contains(t, fatigue, "Negative events per 1,000 messages sent, by tier and week")
	require.Contains(t, fatigue, high+": 6 negative events for 8 messages sent, 750.0 per 1,000.")
	require.Contains(t, fatigue, "<title>"+high+", W47 (16 Nov): 1250.0</title>")
	require.Contains(t, fatigue, ">4 sent</text>")

	// The pressure curve (cmd/rapport's TestInsightPressure's reference,
	// worked out for these days): each contact-day from 11 to 29 November
	// at the messages of the 30 days before.
	require.Contains(t, p.Body, "1 Sep 2026 to 29 Nov 2026 (90 closed days)")
	require.Equal(t, []string{
		"Tier | Measure | 0 | 1 | 2 | 3 | 4–5 | 6–9 | 10+ | All",
		high + " | Contact-days | 9 (few) | 20 (few) | 16 (few) | 5 (few) | 0 | 0 | 0 | 50",
		"Events | 0 | 0 | 3 | 0 | 0 | 0 | 0 | 3",
		"Per 1,000 contact-days | 0.0 | 0.0 | 187.5 | 0.0 | — | — | — | 60.0",
		medium + " | Contact-days | 15 (few) | 19 (few) | 5 (few) | 0 | 0 | 0 | 0 | 39",
		"Events | 0 | 0 | 1 | 0 | 0 | 0 | 0 | 1",
		"Per 1,000 contact-days | 0.0 | 0.0 | 200.0 | — | — | — | — | 25.6",
	}, table(t, p.Body, "pressure-table"))
	pressure := regexp.MustCompile(`(?s)<svg[^>]*aria-labelledby="pressure-chart-title.*?</svg>`).FindString(p.Body)
	require.Contains(t, pressure, "2 messages, 187.5 per 1,000 over 16 contact-days;")
	require.Contains(t, pressure, `stroke-dasharray="3 2"`, "small samples are hollow")
	require.Contains(t, pressure, ">16 d (few)</text>")

	// A tier's page: that tier only.
	p = viewer.get("/console/tiers/medium")
	require.Equal(t, http.StatusOK, p.Status)
	require.Equal(t, []string{
		"Tier | Week | Sent | Unsubscribes | Complaints | Hard bounces | Downgrades | Pauses | Topic opt-outs | All events | All per 1,000",
		medium + " | W47 (16 Nov) | 2 | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 | 0.0",
		medium + " | W48 (23 Nov) | 1 | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 1 (1000.0) | 0 (0.0) | 1 | 1000.0",
		medium + " | all weeks | 3 | 0 (0.0) | 0 (0.0) | 0 (0.0) | 0 (0.0) | 1 (333.3) | 0 (0.0) | 1 | 333.3",
	}, table(t, p.Body, "fatigue-table"))
	require.Len(t, table(t, p.Body, "pressure-table"), 4)
	require.Contains(t, p.Body, `aria-labelledby="fatigue-chart-tier-title`)
	require.NotContains(t, p.Body, `action="/console/tiers/medium/thresholds"`, "thresholds are the admins'")
}

// tierValues is a stored tier as its form posts it.
func tierValues(tier outreach.Tier) url.Values {
	v := url.Values{"name": {tier.Name}, "description": {tier.Description}, "rank": {strconv.Itoa(tier.Rank)},
		"version": {strconv.Itoa(tier.Version)}, "min_gap": {""}, "target_interval": {""}}
	if tier.Selectable {
		v.Set("selectable", "yes")
	}
	for i, c := range tier.Rule.Caps {
		v.Set("caps."+strconv.Itoa(i)+".max", strconv.Itoa(c.Max))
		v.Set("caps."+strconv.Itoa(i)+".window", c.Window.String())
	}
	v.Set("caps."+strconv.Itoa(len(tier.Rule.Caps))+".max", "")
	v.Set("caps."+strconv.Itoa(len(tier.Rule.Caps))+".window", "")
	for _, d := range tier.Rule.SendWindow.Days {
		v.Add("send_window.days", outreach.DayName(d))
	}
	v.Set("send_window.start", outreach.FormatClock(tier.Rule.SendWindow.Start))
	v.Set("send_window.end", outreach.FormatClock(tier.Rule.SendWindow.End))
	return v
}

// TestWhatIfPreview: "Preview the effect" replays the form's rule through
// the API's what-if service (cmd/rapport's whatIfWorld: daily instead of
// weekly would have sent 6 instead of 4), read-only; a refused rule comes
// back with its errors at the fields, as Save does, and nothing is written.
func TestWhatIfPreview(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.store.CreateTier(ctx, "test", outreach.Tier{Key: "weekly", Name: "Weekly", Rank: 25,
		Rule: outreach.Rule{Caps: []outreach.Cap{{Max: 1, Window: outreach.Duration(7 * 24 * time.Hour)}},
			SendWindow: outreach.SendWindow{Days: outreach.AllDays(), Start: 0, End: 24 * 60}}})
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Second)
	at := func(d float64) time.Time { return now.Add(time.Duration(d * 24 * float64(time.Hour))) }
	p := func(t time.Time) *time.Time { return &t }
	h := &history{b: b}
	h.contact("c1@example.com", "weekly", "", "active", at(-40), nil)
	h.contact("c2@example.com", "weekly", "", "active", at(-40), nil)
	h.contact("other@example.com", "medium", "", "active", at(-40), nil)
	for _, n := range []string{"X1", "X2", "X3", "X4"} {
		h.campaign(n)
	}
	h.run("X1", at(-20), at(-19))
	h.run("X2", at(-18), at(-17))
	h.run("X3", at(-4), at(-3))
	h.run("X4", at(-1), at(5))
	for _, c := range []string{"c1", "c2"} {
		h.delivery("X1", at(-20), c+"@example.com", "weekly", "sent", "sent", at(-20), p(at(-20)))
		h.delivery("X3", at(-4), c+"@example.com", "weekly", "sent", "sent", at(-4), p(at(-4)))
	}
	h.delivery("X2", at(-18), "c1@example.com", "weekly", "skipped", "expired", at(-18), nil)
	h.delivery("X2", at(-18), "c2@example.com", "weekly", "skipped", "paused", at(-18), nil)
	h.delivery("X4", at(-1), "c1@example.com", "weekly", "scheduled", "deferred_cap", at(3), nil)
	h.delivery("X1", at(-20), "other@example.com", "medium", "sent", "sent", at(-20), p(at(-20)))
	h.commit()
	c1 := b.id("c1@example.com")
	weekly, err := b.store.Tier(ctx, "weekly")
	require.NoError(t, err)

	admin, _ := b.as(outreach.RoleAdmin)
	page := admin.get("/console/tiers/weekly")
	require.Equal(t, http.StatusOK, page.Status)
	require.Contains(t, page.Body, `formaction="/console/tiers/weekly/what-if" hx-post="/console/tiers/weekly/what-if" hx-target="#main" hx-select="#main"`)
	require.Contains(t, page.Body, `name="days" type="text" value="30"`)
	audit := b.count("audit_log")

	daily := tierValues(weekly)
	daily.Set("caps.0.window", "24h")
	daily.Set("days", "30")
	page = admin.post("/console/tiers/weekly/what-if", daily, "HX-Request", "true")
	require.Equal(t, http.StatusOK, page.Status, page.Body)
	require.Contains(t, page.Body, "Nothing was saved. 2 contacts whose tier is this one now, 7 of their marketing deliveries")
	require.Contains(t, page.Body, `<span class="stat-n" id="whatif-sent">4 → 6</span> messages sent (&#43;2)`)
	require.Equal(t, []string{
		"Outcome | Before | After | Change",
		"Sent sent, including those sent later than asked | 4 | 6 | +2",
		"Deferred sent or still waiting, later than asked | 1 | 0 | −1",
		"Expired dropped: past the campaign’s expiry, or displaced | 1 | 0 | −1",
		"Pending planned after now, still waiting | 1 | 0 | −1",
		"Skipped unsubscribed, paused, suppressed…: the same either way | 1 | 1 | 0",
	}, table(t, page.Body, "whatif-tally"))
	require.Equal(t, []string{
		"Campaign | Sent before | after | Deferred before | after | Expired before | after | Pending before | after | Skipped",
		"X1 | 2 | 2 | 0 | 0 | 0 | 0 | 0 | 0 | 0",
		"X2 | 0 | 1 | 0 | 0 | 1 | 0 | 0 | 0 | 1",
		"X3 | 2 | 2 | 0 | 0 | 0 | 0 | 0 | 0 | 0",
		"X4 | 0 | 1 | 1 | 0 | 0 | 0 | 1 | 0 | 0",
	}, table(t, page.Body, "whatif-campaigns"))
	require.Equal(t, []string{
		"Messages | Contacts before | Contacts after",
		"0 | 0 | 0", "1 | 0 | 0", "2 | 2 | 1", "3 | 0 | 0", "4–5 | 0 | 1", "6–9 | 0 | 0", "10+ | 0 | 0",
	}, table(t, page.Body, "whatif-histogram"))
	require.Contains(t, page.Body, `aria-labelledby="whatif-chart-title whatif-chart-desc"`)
	require.Contains(t, page.Body, "2 messages: 2 contacts before, 1 after.")
	require.Contains(t, page.Body, fmt.Sprintf(`1 contacts would get more messages, 0 fewer, 1 the same. More: <a href="/console/contacts/%d">#%d</a>.`, c1, c1))
	require.Contains(t, page.Body, "1 scheduled deliveries re-planned at once: 0 at the same moment, 1 earlier, 0 later, 0 would expire.")
	require.Contains(t, page.Body, "Audience membership is as it was")
	require.Contains(t, page.Body, `name="caps.0.window" value="24h"`, "the form as typed")
	require.Contains(t, page.Body, `<dt>The proposed rule</dt><dd>At most one email a day.`)

	// Without JavaScript the same page comes back whole.
	page = admin.post("/console/tiers/weekly/what-if", with(daily))
	require.Equal(t, http.StatusOK, page.Status)
	require.Contains(t, page.Body, `id="whatif-sent">4 → 6</span>`)

	// A refused rule: 422, errors at their fields as Save puts them,
	// nothing written.
	bad := with(daily, "caps.0.max", "0")
	page = admin.post("/console/tiers/weekly/what-if", bad)
	require.Equal(t, http.StatusUnprocessableEntity, page.Status, page.Body)
	require.NotContains(t, page.Body, `id="whatif-sent"`)
	require.Contains(t, page.Body, `<p class="error" id="f-caps-0-max-error">`)
	require.Contains(t, page.Body, `name="caps.0.max" value="0"`)
	save := admin.post("/console/tiers/weekly", with(daily, "caps.0.max", "0"))
	require.Equal(t, http.StatusUnprocessableEntity, save.Status)
	errorOf := func(body, id string) string {
		return regexp.MustCompile(`<p class="error" id="` + id + `-error"><strong>Error:</strong> ([^<]*)</p>`).FindStringSubmatch(body)[1]
	}
	require.Equal(t, errorOf(save.Body, "f-caps-0-max"), errorOf(page.Body, "f-caps-0-max"), "the same message as Save")
	page = admin.post("/console/tiers/weekly/what-if", with(daily, "days", "91"))
	require.Equal(t, http.StatusUnprocessableEntity, page.Status)
	require.Equal(t, "must be a whole number from 1 to 90", errorOf(page.Body, "f-days"))
	require.Contains(t, page.Body, `<a href="#f-days">Days to replay: must be a whole number from 1 to 90</a>`)
	// Days out of range and a refused rule: every error at once, each at
	// its field, the form as typed; the rule's as Save words them.
	page = admin.post("/console/tiers/weekly/what-if", with(daily, "days", "91", "caps.0.max", "0"))
	require.Equal(t, http.StatusUnprocessableEntity, page.Status)
	require.Equal(t, "must be a whole number from 1 to 90", errorOf(page.Body, "f-days"))
	require.Equal(t, errorOf(save.Body, "f-caps-0-max"), errorOf(page.Body, "f-caps-0-max"))
	require.Contains(t, page.Body, `<a href="#f-days">Days to replay: must be a whole number from 1 to 90</a>`)
	require.Contains(t, page.Body, `<a href="#f-caps-0-max">`)
	require.Contains(t, page.Body, `name="caps.0.max" value="0"`)
	require.Contains(t, page.Body, `value="91"`)
	// So too with a rule that cannot even be read.
	page = admin.post("/console/tiers/weekly/what-if", with(daily, "days", "91", "caps.0.window", "7"))
	require.Equal(t, http.StatusUnprocessableEntity, page.Status)
	require.Equal(t, "must be a whole number from 1 to 90", errorOf(page.Body, "f-days"))
	require.Contains(t, page.Body, `id="f-caps-0-window-error"`)
	page = admin.post("/console/tiers/weekly/what-if", with(daily, "days", "ten"))
	require.Equal(t, http.StatusUnprocessableEntity, page.Status)
	page = admin.post("/console/tiers/weekly/what-if", with(daily, "caps.0.window", "7"))
	require.Equal(t, http.StatusUnprocessableEntity, page.Status)
	require.Contains(t, page.Body, `id="f-caps-0-window-error"`)

	after, err := b.store.Tier(ctx, "weekly")
	require.NoError(t, err)
	require.Equal(t, weekly.Version, after.Version, "nothing saved")
	require.Equal(t, weekly.Rule, after.Rule)
	require.Equal(t, audit, b.count("audit_log"), "nothing written")

	// Admins only; and with the form token.
	marketer, _ := b.as(outreach.RoleMarketer)
	marketer.get("/console/tiers/weekly")
	require.Equal(t, http.StatusForbidden, marketer.post("/console/tiers/weekly/what-if", with(daily)).Status)
	forged := with(daily)
	forged.Set("csrf", "")
	page = admin.post("/console/tiers/weekly/what-if", forged)
	require.Equal(t, http.StatusForbidden, page.Status)
	require.Contains(t, page.Body, "This form cannot be accepted")
	require.Equal(t, http.StatusNotFound, admin.post("/console/tiers/gold/what-if", with(daily)).Status)
}

// TestDriftDecisions: a tier's page lists its drifting contacts with the
// suggestion, the evidence in words and the confidence rule; admins
// accept or dismiss after a confirmation, through the API's service
// (audited, on the timeline); viewers and marketers see no button and
// their POSTs are refused.
func TestDriftDecisions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	now := time.Now().UTC()
	seventy := now.AddDate(0, 0, -70)
	h := &history{b: b}
	h.contact("o1@example.com", "medium", "", "active", now.AddDate(0, 0, -400), &seventy)
	h.contact("o2@example.com", "medium", "", "active", now.AddDate(0, 0, -400), &seventy)
	h.commit()
	o1, o2 := b.id("o1@example.com"), b.id("o2@example.com")

	for _, role := range []outreach.Role{outreach.RoleViewer, outreach.RoleMarketer} {
		c, _ := b.as(role)
		p := c.get("/console/tiers/medium")
		require.Equal(t, http.StatusOK, p.Status)
		require.Equal(t, []string{
			"Contact | Suggestion | Evidence | Confidence",
			"o1@example.com | About once a week → Only important updates (further: less often) | Overdue: no message for 70 days, 2× the target interval of “About once a week” (30 days) (last message, " + seventy.Format("2 Jan 2006") + ") | medium medium: one rule fired",
			"o2@example.com | About once a week → Only important updates (further: less often) | Overdue: no message for 70 days, 2× the target interval of “About once a week” (30 days) (last message, " + seventy.Format("2 Jan 2006") + ") | medium medium: one rule fired",
		}, table(t, p.Body, "drift-table"))
		require.NotContains(t, p.Body, "/drift/", "no buttons")
		audit := b.count("audit_log")
		for _, path := range []string{"/console/tiers/medium/drift/" + strconv.FormatInt(o1, 10) + "/accept", "/console/tiers/medium/drift/" + strconv.FormatInt(o1, 10) + "/dismiss"} {
			require.Equal(t, http.StatusForbidden, c.get(path).Status, path)
			require.Equal(t, http.StatusForbidden, c.post(path, url.Values{"confirm": {"yes"}}).Status, path)
		}
		require.Equal(t, http.StatusForbidden, c.post("/console/tiers/medium/thresholds", url.Values{"pauses": {"5"}}).Status)
		require.Equal(t, audit, b.count("audit_log"))
	}

	admin, email := b.as(outreach.RoleAdmin)
	p := admin.get("/console/tiers/medium")
	accept := fmt.Sprintf("/console/tiers/medium/drift/%d/accept", o1)
	dismiss := fmt.Sprintf("/console/tiers/medium/drift/%d/dismiss", o2)
	require.Contains(t, p.Body, `href="`+accept+`"`)
	require.Contains(t, p.Body, `href="`+dismiss+`"`)

	// Without the form token, or from another site: refused, nothing done.
	audit := b.count("audit_log")
	p = admin.post(accept, url.Values{"confirm": {"yes"}, "csrf": {""}})
	require.Equal(t, http.StatusForbidden, p.Status)
	require.Contains(t, p.Body, "This form cannot be accepted")
	p = admin.post(dismiss, url.Values{"confirm": {"yes"}}, "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusForbidden, p.Status)
	require.Equal(t, audit, b.count("audit_log"))

	// A POST that did not come from the confirmation goes to it.
	p = admin.post(accept, url.Values{})
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, accept, p.Location)
	p = admin.get(accept)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "<h1>Move o1@example.com to Only important updates?</h1>")
	require.Contains(t, p.Body, "Evidence: Overdue: no message for 70 days")
	require.Contains(t, p.Body, "Confidence medium: one rule fired.")
	fp := regexp.MustCompile(`name="fingerprint" value="([0-9a-f]+)"`).FindStringSubmatch(p.Body)
	require.NotNil(t, fp)

	// A fingerprint that is not the current one is refused, nothing done.
	p = admin.post(accept, url.Values{"confirm": {"yes"}, "fingerprint": {"0000"}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	p = admin.get(p.Location)
	require.Contains(t, p.Body, "The evidence changed since fingerprint 0000 was shown")
	ct, err := b.store.Contact(ctx, o1)
	require.NoError(t, err)
	require.Equal(t, "medium", ct.Tier)

	p = admin.post(accept, url.Values{"confirm": {"yes"}, "fingerprint": {fp[1]}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, "/console/tiers/medium#drift-h", p.Location)
	ct, err = b.store.Contact(ctx, o1)
	require.NoError(t, err)
	require.Equal(t, "low", ct.Tier)
	p = admin.get("/console/tiers/medium")
	require.Contains(t, p.Body, "o1@example.com is now in Only important updates (accepted, on their timeline).")
	require.Contains(t, b.audited("user:"+email), "drift_accept contact", "audited under the admin")

	p = admin.get(dismiss)
	require.Contains(t, p.Body, "<h1>Dismiss the suggestion for o2@example.com?</h1>")
	p = admin.post(dismiss, url.Values{"confirm": {"yes"}})
	require.Equal(t, http.StatusSeeOther, p.Status)
	ct, err = b.store.Contact(ctx, o2)
	require.NoError(t, err)
	require.Equal(t, "medium", ct.Tier, "dismissed: stays")
	p = admin.get("/console/tiers/medium")
	require.Contains(t, p.Body, "The suggestion for o2@example.com is dismissed; they stay in About once a week.")
	require.Contains(t, p.Body, "No contact of this tier is drifting from it now.")
	// Decided: the same evidence is not suggested again.
	p = admin.get(dismiss)
	require.Equal(t, http.StatusSeeOther, p.Status)

	tl, err := b.store.Timeline(ctx, o1, nil, 20)
	require.NoError(t, err)
	var kinds []string
	for _, e := range tl {
		kinds = append(kinds, e.Event)
	}
	require.Contains(t, kinds, "drift_accepted")
}

// TestDriftThresholdsForm: admins change a tier's drift thresholds on its
// page, validated by the store as the API's PUT is; errors come back at
// their fields with the values as typed, and nothing is written.
func TestDriftThresholdsForm(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin, email := b.as(outreach.RoleAdmin)
	p := admin.get("/console/tiers/medium")
	require.Contains(t, p.Body, `action="/console/tiers/medium/thresholds"`)
	require.Contains(t, p.Body, `name="overdue_factor" type="text" value="2"`)
	require.Contains(t, p.Body, `name="pause_window" type="text" value="90d"`)
	form := url.Values{"preference_age": {"30d"}, "pauses": {"2"}, "pause_window": {"90d"}, "opt_outs": {"2"}, "opt_out_window": {"90d"},
		"overdue_factor": {"2"}, "closer_signals": {"3"}, "closer_window": {"60d"}}
	audit := b.count("audit_log")

	p = admin.post("/console/tiers/medium/thresholds", with(form, "pauses", "many", "pause_window", "0s", "overdue_factor", "101"))
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.Body, `<p class="error" id="f-pauses-error"><strong>Error:</strong> must be a whole number such as 2 (0 turns the rule off)</p>`)
	require.Contains(t, p.Body, `<p class="error" id="f-overdue-factor-error"><strong>Error:</strong> must be a number from 0 to 100</p>`)
	require.Contains(t, p.Body, `name="pauses" type="text" value="many"`, "kept as typed")
	p = admin.post("/console/tiers/medium/thresholds", with(form, "pauses", "3", "pause_window", "0s"))
	require.Equal(t, http.StatusUnprocessableEntity, p.Status)
	require.Contains(t, p.Body, `<p class="error" id="f-pause-window-error"><strong>Error:</strong> must be positive when pauses is set</p>`)
	require.Equal(t, audit, b.count("audit_log"), "nothing written")

	forged := with(form, "overdue_factor", "3")
	forged.Set("csrf", "")
	p = admin.post("/console/tiers/medium/thresholds", forged)
	require.Equal(t, http.StatusForbidden, p.Status)
	require.Contains(t, p.Body, "This form cannot be accepted")
	require.Equal(t, audit, b.count("audit_log"), "nothing written")
	marketer, _ := b.as(outreach.RoleMarketer)
	marketer.get("/console/tiers/medium")
	require.Equal(t, http.StatusForbidden, marketer.post("/console/tiers/medium/thresholds", with(form, "overdue_factor", "3")).Status)

	p = admin.post("/console/tiers/medium/thresholds", with(form, "overdue_factor", "3"))
	require.Equal(t, http.StatusSeeOther, p.Status)
	th, err := b.store.DriftThresholds(context.Background())
	require.NoError(t, err)
	require.Equal(t, 3.0, th["medium"].OverdueFactor)
	require.Contains(t, b.audited("user:"+email), "update drift_thresholds")
	p = admin.get("/console/tiers/medium")
	require.Contains(t, p.Body, `name="overdue_factor" type="text" value="3"`)
}
