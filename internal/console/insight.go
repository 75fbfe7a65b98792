package console

import (
	"context"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rapport-dev/rapport/internal/insight"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/tuning"
)

// The fatigue and pressure figures of the dashboard (every tier) and of
// a tier's page (that tier): the API's GET /insights/fatigue and
// /insights/pressure, through the same service calls, with their
// defaults (the last 4 weeks; the last 90 closed days). Both read only
// the insight rollups (a row per day, tier and campaign; per closed day,
// tier and message count), never the deliveries, so they are read on
// every visit: a few hundred rows however large the history is.

// pressureDays is how many closed days the pressure curve covers.
const pressureDays = 90

// fewContactDays is the sample under which a bucket's rate is drawn hollow
// and marked "few": one event more or less would move it by ten per
// 1,000 or more.
const fewContactDays = 100

// kindWords names the negative events as the tables head them, in the
// order of insight.Kinds.
var kindWords = map[insight.Kind]string{insight.Unsubscribe: "Unsubscribes", insight.Complaint: "Complaints",
	insight.HardBounce: "Hard bounces", insight.Downgrade: "Downgrades", insight.Pause: "Pauses", insight.TopicOptOut: "Topic opt-outs"}

// insightView is the fatigue and pressure figures as a page shows them.
type insightView struct {
	Fatigue  fatigueView
	Pressure pressureView
}

// fatigueView is the fatigue report: a chart of all negative events per
// 1,000 sent per tier and week, and the table behind it.
type fatigueView struct {
	From, To, RollupThrough time.Time
	Attribution             string
	Chart                   template.HTML
	Kinds                   []string
	Weeks                   []fatigueRow // per tier and week, tiers most frequent first
	Totals                  []fatigueRow
	Empty                   bool
}

// fatigueRow is one tier's week (or period): messages sent, each kind of
// event with its rate, and all of them together.
type fatigueRow struct {
	Tier, Week string
	Sent       int64
	Events     []eventCell
	All        eventCell
}

// eventCell is a count and its rate per 1,000 sent.
type eventCell struct {
	N    int64
	Rate string
}

// pressureView is the pressure–response curve per tier.
type pressureView struct {
	From, To time.Time
	Days     int
	Method   string
	Chart    template.HTML
	Tiers    []pressureTier
	Buckets  []string
	Few      int64
}

type pressureTier struct {
	Tier                string
	ContactDays, Events int64
	Rate                string
	Buckets             []pressureCell
}

type pressureCell struct {
	ContactDays, Events int64
	Rate                string
	Few                 bool
}

// insights reads the fatigue and pressure figures of one tier ("" every
// tier) for a page; tiers names them and orders them, most frequent first.
func (c *Console) insights(ctx context.Context, tier string, tiers []outreach.Tier) (insightView, error) {
	fr, err := c.Insights.Fatigue(ctx, tuning.FatigueQuery{Tier: tier})
	if err != nil {
		return insightView{}, err
	}
	pr, err := c.Insights.Pressure(ctx, tier, pressureDays)
	if err != nil {
		return insightView{}, err
	}
	names := tierNames(tiers)
	return insightView{Fatigue: showFatigue(fr, names), Pressure: showPressure(pr, names)}, nil
}

// tierOrder names tiers and ranks them most frequent first; a key no tier
// has any more (a deleted tier's history) goes last under its key.
type tierOrder struct {
	name map[string]string
	rank map[string]int
}

func tierNames(tiers []outreach.Tier) tierOrder {
	o := tierOrder{name: map[string]string{}, rank: map[string]int{}}
	for i, t := range outreach.ByFrequency(tiers) {
		o.name[t.Key], o.rank[t.Key] = t.Name, i
	}
	return o
}

func (o tierOrder) of(key string) string {
	if n, ok := o.name[key]; ok {
		return n
	}
	return key
}

func (o tierOrder) index(key string) int {
	if i, ok := o.rank[key]; ok {
		return i
	}
	return len(o.rank)
}

// sortTiers orders keys most frequent first, keeping the first-seen order
// among unknown ones.
func (o tierOrder) sortTiers(keys []string) []string {
	out := slices.Clone(keys)
	slices.SortStableFunc(out, func(a, b string) int { return o.index(a) - o.index(b) })
	return out
}

// weekLabel names an ISO week by its Monday: "W47 (16 Nov)".
func weekLabel(monday time.Time) string {
	_, w := monday.ISOWeek()
	return "W" + strconv.Itoa(w) + " (" + monday.Format("2 Jan") + ")"
}

func fatigueCells(c tuning.FatigueCell) ([]eventCell, eventCell) {
	var out []eventCell
	var all int64
	for _, k := range insight.Kinds {
		out = append(out, eventCell{N: c.Events[k], Rate: rateText(c.Per1000[k])})
		all += c.Events[k]
	}
	return out, eventCell{N: all, Rate: rateText(insight.Per1000(all, c.Sent))}
}

func showFatigue(r tuning.FatigueReport, o tierOrder) fatigueView {
	v := fatigueView{From: r.From, To: r.To, RollupThrough: r.RollupThrough, Attribution: r.Attribution, Empty: len(r.Weeks) == 0}
	for _, k := range insight.Kinds {
		v.Kinds = append(v.Kinds, kindWords[k])
	}
	// Columns: every ISO week the period touches, by its Monday.
	var mondays []time.Time
	for m := r.From.AddDate(0, 0, -((int(r.From.Weekday()) + 6) % 7)); !m.After(r.To); m = m.AddDate(0, 0, 7) {
		mondays = append(mondays, m)
	}
	col := map[time.Time]int{}
	var cols []string
	for i, m := range mondays {
		col[m] = i
		cols = append(cols, weekLabel(m))
	}
	byTier := map[string][]tuning.FatigueCell{}
	var keys []string
	for _, w := range r.Weeks {
		if _, ok := byTier[w.Tier]; !ok {
			keys = append(keys, w.Tier)
		}
		byTier[w.Tier] = append(byTier[w.Tier], w)
	}
	keys = o.sortTiers(keys)
	totals := map[string]tuning.FatigueCell{}
	for _, t := range r.Totals {
		totals[t.Tier] = t
	}
	var rows []gridRow
	var desc strings.Builder
	for _, key := range keys {
		name := o.of(key)
		row := gridRow{Label: name, Bars: make([]gridBar, len(cols))}
		for j := range row.Bars {
			row.Bars[j] = gridBar{Value: 0, Text: "—", Note: "0 sent"}
		}
		for _, w := range byTier[key] {
			cells, all := fatigueCells(w)
			v.Weeks = append(v.Weeks, fatigueRow{Tier: name, Week: weekLabel(w.Week), Sent: w.Sent, Events: cells, All: all})
			if j, ok := col[w.Week]; ok {
				rate := insight.Per1000(all.N, w.Sent)
				row.Bars[j] = gridBar{Value: rateValue(rate), Text: rateText(rate), Note: thousands(w.Sent) + " sent"}
			}
		}
		if t, ok := totals[key]; ok {
			cells, all := fatigueCells(t)
			v.Totals = append(v.Totals, fatigueRow{Tier: name, Sent: t.Sent, Events: cells, All: all})
			row.Sub = fmt.Sprintf("%s sent, %s events", thousands(t.Sent), thousands(all.N))
			fmt.Fprintf(&desc, "%s: %s negative events for %s messages sent, %s per 1,000. ", name, thousands(all.N),
				thousands(t.Sent), all.Rate)
		}
		rows = append(rows, row)
	}
	if len(rows) > 0 {
		id := "fatigue-chart"
		if len(rows) == 1 {
			id = "fatigue-chart-tier"
		}
		v.Chart = barGrid(id, "Negative events per 1,000 messages sent, by tier and week",
			desc.String()+"The table below has each kind of event, week by week.", cols, rows)
	}
	return v
}

func showPressure(r tuning.PressureReport, o tierOrder) pressureView {
	v := pressureView{From: r.From, To: r.To, Days: r.Days, Method: tuning.PressureMethod, Few: fewContactDays}
	for _, b := range insight.Buckets {
		v.Buckets = append(v.Buckets, bucketWords(b))
	}
	curves := map[string]tuning.PressureCurve{}
	var keys []string
	for _, t := range r.Tiers {
		curves[t.Tier] = t
		keys = append(keys, t.Tier)
	}
	var rows []gridRow
	var desc strings.Builder
	for _, key := range o.sortTiers(keys) {
		t := curves[key]
		name := o.of(key)
		pt := pressureTier{Tier: name, ContactDays: t.ContactDays, Events: t.Events, Rate: rateText(insight.Per1000(t.Events, t.ContactDays))}
		row := gridRow{Label: name, Sub: thousands(t.ContactDays) + " contact-days"}
		fmt.Fprintf(&desc, "%s:", name)
		for i, b := range t.Buckets {
			few := b.ContactDays > 0 && b.ContactDays < fewContactDays
			pt.Buckets = append(pt.Buckets, pressureCell{ContactDays: b.ContactDays, Events: b.Events, Rate: rateText(b.Per1000), Few: few})
			note := thousands(b.ContactDays) + " d"
			if few {
				note += " (few)"
			}
			row.Bars = append(row.Bars, gridBar{Value: rateValue(b.Per1000), Text: rateText(b.Per1000), Note: note, Faint: few})
			fmt.Fprintf(&desc, " %s messages, %s per 1,000 over %s contact-days;", v.Buckets[i], rateText(b.Per1000), thousands(b.ContactDays))
		}
		desc.WriteString(" ")
		v.Tiers = append(v.Tiers, pt)
		rows = append(rows, row)
	}
	if len(rows) > 0 {
		id := "pressure-chart"
		if len(rows) == 1 {
			id = "pressure-chart-tier"
		}
		v.Chart = barGrid(id, "Negative events per 1,000 contact-days, by messages in the 30 days before",
			desc.String()+"Hollow bars stand on fewer than "+strconv.Itoa(fewContactDays)+" contact-days.", v.Buckets, rows)
	}
	return v
}

// bucketWords names a bucket of message counts with an en dash: "4–5".
func bucketWords(r insight.Range) string { return strings.ReplaceAll(r.Label(), "-", "–") }
