package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// dashboardDays is how many days the dashboard looks back, today included.
const dashboardDays = 30

// dashboardTTL is how long the dashboard's figures are kept. They are
// daily figures, and computing them reads the recent deliveries and
// contact events (bounded by time, see postgres.Store.Dashboard) and every
// contact once (the overdue count: no index can answer it, last_sent_at
// changes with every message and lives in a narrow table of its own,
// contact_last_sent, so that write stays cheap). With a million contacts
// and ten million deliveries that is a second or two of database time:
// paid once a minute per process while someone looks, never per visit,
// and never while a visitor waits except the first one after a start:
// older figures are shown while new ones are computed in the background.
const dashboardTTL = time.Minute

// dashCache keeps the last figures (see dashboardTTL).
type dashCache struct {
	mu         sync.Mutex
	at         time.Time
	d          *postgres.Dashboard
	refreshing bool
	first      sync.Mutex     // the first computation, one at a time
	wg         sync.WaitGroup // a refresh in the background
}

// figures returns the dashboard's figures and when they were computed:
// the kept ones, refreshed in the background once they are older than
// dashboardTTL; the first time, computed while the request waits (one
// request computes, the others wait for it).
func (c *Console) figures(ctx context.Context) (postgres.Dashboard, time.Time, error) {
	k := &c.dash
	if d, at, ok := c.keptFigures(); ok {
		return d, at, nil
	}
	k.first.Lock()
	defer k.first.Unlock()
	if d, at, ok := c.keptFigures(); ok {
		return d, at, nil
	}
	now := c.Clock.Now()
	d, err := c.Store.Dashboard(ctx, dashboardDays)
	if err != nil {
		return d, now, err
	}
	k.mu.Lock()
	k.d, k.at = &d, now
	k.mu.Unlock()
	return d, now, nil
}

// keptFigures returns the kept figures, if any, starting their refresh
// when they are too old.
func (c *Console) keptFigures() (postgres.Dashboard, time.Time, bool) {
	k := &c.dash
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.d == nil {
		return postgres.Dashboard{}, time.Time{}, false
	}
	if now := c.Clock.Now(); (now.Sub(k.at) >= dashboardTTL || now.Before(k.at)) && !k.refreshing {
		k.refreshing = true
		k.wg.Add(1)
		go c.refreshFigures()
	}
	return *k.d, k.at, true
}

func (c *Console) refreshFigures() {
	k := &c.dash
	defer k.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := c.Clock.Now()
	d, err := c.Store.Dashboard(ctx, dashboardDays)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refreshing = false
	if err != nil {
		c.Log.Error("console dashboard figures", "error", err.Error())
		return
	}
	k.d, k.at = &d, now
}

// stale makes the kept figures due for a refresh: a tier changed, and
// with it who is overdue.
func (k *dashCache) stale() {
	k.mu.Lock()
	k.at = time.Time{}
	k.mu.Unlock()
}

// dashboardData is the dashboard's content.
type dashboardData struct {
	Campaigns []statusCount
	Total     int64
	Tiers     []tierListRow
	Figures   dashFigures
	// Insight is fatigue and the pressure curve for every tier, read from
	// the rollups on each visit (see insights).
	Insight insightView
}

type statusCount struct {
	Status outreach.CampaignStatus
	N      int64
}

// campaignStatuses in lifecycle order.
var campaignStatuses = []outreach.CampaignStatus{outreach.CampaignDraft, outreach.CampaignScheduled, outreach.CampaignRunning,
	outreach.CampaignPaused, outreach.CampaignCompleted, outreach.CampaignCanceled}

// dashFigures is the store's dashboard as the page shows it: tiers by
// name, most frequent first, a chart and a table for each figure.
type dashFigures struct {
	AsOf, Since, LastDay, PlannedSince time.Time

	SentChart template.HTML
	SentTiers []string // column heads: tier names
	SentDays  []sentDay
	SentTotal []int64 // per tier

	DeferredChart template.HTML
	Deferred      []deferredRow

	Queue []queueRow

	Overdue []overdueRow
	OptOuts []optOutRow
}

type sentDay struct {
	Day    time.Time
	Counts []int64
	Total  int64
}

type deferredRow struct {
	Reason, Explain, Tier string
	N                     int64
	Latest                time.Time
}

type queueRow struct {
	Queue                                    string
	Available, Scheduled, Running, Retryable int64
}

type overdueRow struct {
	Tier, Target string
	N            int64
}

type optOutRow struct {
	Tier                     string
	Sent                     int64
	Unsubscribes, Complaints int64
	UnsubRate, ComplaintRate string // per 1,000 sent
}

// deferralWords explains the deferral reasons.
var deferralWords = map[string]string{
	string(outreach.ReasonDeferredCap):        "A cap is full until then",
	string(outreach.ReasonDeferredMinGap):     "Too soon after the last message",
	string(outreach.ReasonDeferredSendWindow): "Outside the send window",
}

// dashboard is GET /console/: where signing in lands.
func (c *Console) dashboard(ec echo.Context) error {
	ctx := ec.Request().Context()
	counts, err := c.Store.CampaignCounts(ctx)
	if err != nil {
		return err
	}
	tiers, err := c.Store.Tiers(ctx)
	if err != nil {
		return err
	}
	fig, asOf, err := c.figures(ctx)
	if err != nil {
		return err
	}
	d := dashboardData{}
	for _, s := range campaignStatuses {
		d.Campaigns = append(d.Campaigns, statusCount{Status: s, N: counts[s]})
		d.Total += counts[s]
	}
	ordered := outreach.ByFrequency(tiers)
	for _, t := range ordered {
		d.Tiers = append(d.Tiers, tierListRow{Tier: t, Meaning: outreach.DescribeRule(t.Rule, consoleLang)})
	}
	d.Figures = showFigures(fig, asOf, ordered)
	if d.Insight, err = c.insights(ctx, "", tiers); err != nil {
		return err
	}
	return c.render(ec, http.StatusOK, "dashboard", &View{Title: "Dashboard", Data: d})
}

// showFigures lays the store's figures out for the page.
func showFigures(fig postgres.Dashboard, asOf time.Time, tiers []outreach.Tier) dashFigures {
	out := dashFigures{AsOf: asOf, Since: fig.Since, LastDay: fig.Until.AddDate(0, 0, -1), PlannedSince: fig.PlannedSince}
	// Columns: every tier, most frequent first, then any key no tier has
	// any more (a deleted tier's old deliveries).
	col := map[string]int{}
	var keys, names []string
	addCol := func(key, name string) {
		if _, ok := col[key]; !ok {
			col[key] = len(names)
			keys, names = append(keys, key), append(names, name)
		}
	}
	for _, t := range tiers {
		addCol(t.Key, t.Name)
	}
	nameOf := func(key string) string {
		addCol(key, key)
		return names[col[key]]
	}
	for _, s := range fig.Sent {
		nameOf(s.Tier)
	}
	for _, x := range fig.Deferred {
		nameOf(x.Tier)
	}
	for _, o := range fig.OptOuts {
		nameOf(o.Tier)
	}

	var days []time.Time
	for day := fig.Since; day.Before(fig.Until); day = day.AddDate(0, 0, 1) {
		days = append(days, day)
	}
	index := map[time.Time]int{}
	for i, day := range days {
		index[day] = i
		out.SentDays = append(out.SentDays, sentDay{Day: day, Counts: make([]int64, len(names))})
	}
	out.SentTiers = names
	out.SentTotal = make([]int64, len(names))
	series := make([]dashSeries, len(names))
	for i, n := range names {
		series[i] = dashSeries{Label: n, Values: make([]int64, len(days))}
	}
	for _, s := range fig.Sent {
		i, ok := index[s.Day]
		if !ok {
			continue
		}
		c := col[s.Tier]
		out.SentDays[i].Counts[c] += s.N
		out.SentDays[i].Total += s.N
		out.SentTotal[c] += s.N
		series[c].Values[i] += s.N
	}
	var summary string
	var all int64
	for i, n := range names {
		summary += fmt.Sprintf("%s: %s; ", n, thousands(out.SentTotal[i]))
		all += out.SentTotal[i]
	}
	if len(days) > 0 {
		out.SentChart = dashMultiples("sent-chart", "Marketing messages sent per day, by tier",
			fmt.Sprintf("%s messages from %s to %s. %sthe table below has every day.", thousands(all),
				days[0].Format("2 January"), days[len(days)-1].Format("2 January 2006"), summary), days, series)
	}

	byReason := map[string]int64{}
	for _, x := range fig.Deferred {
		out.Deferred = append(out.Deferred, deferredRow{Reason: x.Reason, Explain: deferralWords[x.Reason], Tier: nameOf(x.Tier), N: x.N, Latest: x.Latest})
		byReason[x.Reason] += x.N
	}
	sort.Slice(out.Deferred, func(i, j int) bool {
		a, b := out.Deferred[i], out.Deferred[j]
		if a.Reason != b.Reason {
			return a.Reason < b.Reason
		}
		return col[a.Tier] < col[b.Tier]
	})
	var bars []dashBar
	desc := ""
	for _, r := range []outreach.Reason{outreach.ReasonDeferredCap, outreach.ReasonDeferredMinGap, outreach.ReasonDeferredSendWindow} {
		bars = append(bars, dashBar{Label: deferralWords[string(r)], N: byReason[string(r)]})
		desc += fmt.Sprintf("%s (%s): %s. ", deferralWords[string(r)], r, thousands(byReason[string(r)]))
	}
	out.DeferredChart = dashBars("deferred-chart", "Deliveries waiting because of a deferral, by reason", desc, bars)

	queues := map[string]*queueRow{}
	for _, q := range fig.Queue {
		row, ok := queues[q.Queue]
		if !ok {
			row = &queueRow{Queue: q.Queue}
			queues[q.Queue] = row
		}
		switch q.State {
		case "available":
			row.Available += q.N
		case "scheduled":
			row.Scheduled += q.N
		case "running":
			row.Running += q.N
		case "retryable":
			row.Retryable += q.N
		}
	}
	for _, r := range queues {
		out.Queue = append(out.Queue, *r)
	}
	sort.Slice(out.Queue, func(i, j int) bool { return out.Queue[i].Queue < out.Queue[j].Queue })

	for _, t := range tiers {
		if t.Rule.TargetInterval > 0 {
			out.Overdue = append(out.Overdue, overdueRow{Tier: t.Name, Target: outreach.FormatDuration(t.Rule.TargetInterval), N: fig.Overdue[t.Key]})
		}
	}
	opt := map[string]postgres.TierOptOuts{}
	for _, o := range fig.OptOuts {
		opt[o.Tier] = o
	}
	for i, n := range names {
		o := opt[keys[i]]
		sent := out.SentTotal[i]
		out.OptOuts = append(out.OptOuts, optOutRow{Tier: n, Sent: sent, Unsubscribes: o.Unsubscribes, Complaints: o.Complaints,
			UnsubRate: perThousand(o.Unsubscribes, sent), ComplaintRate: perThousand(o.Complaints, sent)})
	}
	return out
}

// perThousand is n per 1,000 sent, "—" when nothing was sent.
func perThousand(n, sent int64) string {
	if sent == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", float64(n)*1000/float64(sent))
}
