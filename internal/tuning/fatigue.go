package tuning

import (
	"context"
	"time"

	"github.com/rapport-dev/rapport/internal/insight"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// Attribution says, in the answer itself, how events are attributed.
const Attribution = "Each negative event is attributed to the tier of the contact's last delivery planned before it " +
	"(deliveries.tier, the effective tier at planning), or the contact's effective tier when it happened if no delivery was " +
	"planned before; and to the last campaign that sent the contact a marketing message within the 7 days before it " +
	"(campaign_id null: none did). Messages sent count marketing messages by the tier they were planned under, on the UTC " +
	"day they were sent. A downgrade is a preferred_tier change to a tier ranked lower than the effective tier before; " +
	"each topic newly opted out of is one topic opt-out. Rates are per 1,000 messages sent in the same cell (null when none were sent)."

// FatigueQuery selects the days (UTC dates, inclusive) and the tier ("" all).
type FatigueQuery struct {
	From, To time.Time
	Tier     string
}

// FatigueCell is one row of the fatigue report: a tier's counts for a
// week (Week, its Monday), a campaign (CampaignID; 0 for events no
// campaign had reached) or the whole period.
type FatigueCell struct {
	Tier         string
	Week         time.Time
	CampaignID   int64
	CampaignName string
	Sent         int64
	Events       map[insight.Kind]int64
	Per1000      map[insight.Kind]*float64
}

// FatigueReport is fatigue per tier: by ISO week, by campaign, and in total.
type FatigueReport struct {
	From, To    time.Time
	Tier        string
	Attribution string
	// RollupThrough is the last closed day of the rollup; days after it
	// (today) are counted so far.
	RollupThrough time.Time
	Weeks         []FatigueCell
	Campaigns     []FatigueCell
	Totals        []FatigueCell
}

// maxFatigueDays bounds a report's period.
const maxFatigueDays = 366

// Fatigue reports messages sent and negative events, with rates per 1,000
// sent, from the daily rollups. Zero dates mean the last 4 weeks up to
// today; from after to, or a period over 366 days, is EINVALID naming the
// field, and so is an unknown tier.
func (s *Service) Fatigue(ctx context.Context, q FatigueQuery) (FatigueReport, error) {
	if q.To.IsZero() {
		q.To = day(s.cfg.Clock.Now())
	}
	if q.From.IsZero() {
		q.From = day(q.To).AddDate(0, 0, -27)
	}
	q.From, q.To = day(q.From), day(q.To)
	switch {
	case q.From.After(q.To):
		return FatigueReport{}, outreach.Invalid(outreach.FieldError{Field: "to", Message: "must not be before from"})
	case q.To.Sub(q.From) >= maxFatigueDays*24*time.Hour:
		return FatigueReport{}, outreach.Invalid(outreach.FieldError{Field: "from", Message: "the period is at most 366 days"})
	}
	if err := s.tierKnown(ctx, "tier", q.Tier); err != nil {
		return FatigueReport{}, err
	}
	weeks, camps, err := s.store.Fatigue(ctx, q.From, q.To, q.Tier)
	if err != nil {
		return FatigueReport{}, err
	}
	st, err := s.store.InsightState(ctx)
	if err != nil {
		return FatigueReport{}, err
	}
	out := FatigueReport{From: q.From, To: q.To, Tier: q.Tier, Attribution: Attribution, RollupThrough: st.DaysThrough,
		Weeks: []FatigueCell{}, Campaigns: []FatigueCell{}, Totals: []FatigueCell{}}
	totals := map[string]*postgres.FatigueCounts{}
	var order []string
	for _, w := range weeks {
		out.Weeks = append(out.Weeks, cell(w))
		t := totals[w.Tier]
		if t == nil {
			t = &postgres.FatigueCounts{Events: map[insight.Kind]int64{}}
			totals[w.Tier] = t
			order = append(order, w.Tier)
		}
		t.Sent += w.Sent
		for k, n := range w.Events {
			t.Events[k] += n
		}
	}
	for _, c := range camps {
		out.Campaigns = append(out.Campaigns, cell(c))
	}
	for _, tier := range order {
		out.Totals = append(out.Totals, cell(postgres.FatigueRow{Tier: tier, FatigueCounts: *totals[tier]}))
	}
	return out, nil
}

func cell(r postgres.FatigueRow) FatigueCell {
	c := FatigueCell{Tier: r.Tier, Week: r.Week, CampaignID: r.CampaignID, CampaignName: r.CampaignName, Sent: r.Sent,
		Events: map[insight.Kind]int64{}, Per1000: map[insight.Kind]*float64{}}
	for _, k := range insight.Kinds {
		c.Events[k] = r.Events[k]
		c.Per1000[k] = insight.Per1000(r.Events[k], r.Sent)
	}
	return c
}

// PressureBucket is one bar of a tier's pressure–response curve.
type PressureBucket struct {
	Range       insight.Range
	ContactDays int64
	Events      int64
	Per1000     *float64 // events per 1,000 contact-days; nil with none
}

// PressureCurve is one tier's curve.
type PressureCurve struct {
	Tier        string
	ContactDays int64
	Events      int64
	Buckets     []PressureBucket
}

// PressureReport is the curve of each tier over the closed days From..To.
type PressureReport struct {
	From, To time.Time
	Days     int
	Tiers    []PressureCurve
}

// PressureMethod says how the curve is made, in the answer itself.
const PressureMethod = "For each closed UTC day and each contact that could be mailed that day (created by then, not yet " +
	"unsubscribed, complained or hard-bounced), one contact-day at the number of marketing messages it received in the " +
	"30 days before, in the tier of its latest such message (else its effective tier now). Negative events (unsubscribe, " +
	"complaint, downgrade, pause) of that contact that day count in the same cell. Rates are events per 1,000 contact-days."

// Pressure reports each tier's negative events per 1,000 contact-days by
// the messages received in the 30 days before, over the last days closed
// days (1–365, default 90). An unknown tier or days out of range is
// EINVALID naming the field.
func (s *Service) Pressure(ctx context.Context, tier string, days int) (PressureReport, error) {
	if days == 0 {
		days = 90
	}
	if days < 1 || days > 365 {
		return PressureReport{}, outreach.Invalid(outreach.FieldError{Field: "days", Message: "must be a whole number from 1 to 365"})
	}
	if err := s.tierKnown(ctx, "tier", tier); err != nil {
		return PressureReport{}, err
	}
	st, err := s.store.InsightState(ctx)
	if err != nil {
		return PressureReport{}, err
	}
	to := st.DaysThrough
	if to.IsZero() {
		to = day(s.cfg.Clock.Now()).AddDate(0, 0, -1)
	}
	from := to.AddDate(0, 0, 1-days)
	rows, err := s.store.Pressure(ctx, from, to, tier)
	if err != nil {
		return PressureReport{}, err
	}
	out := PressureReport{From: from, To: to, Days: days, Tiers: []PressureCurve{}}
	byTier := map[string]*PressureCurve{}
	for _, r := range rows {
		c := byTier[r.Tier]
		if c == nil {
			out.Tiers = append(out.Tiers, PressureCurve{Tier: r.Tier, Buckets: make([]PressureBucket, len(insight.Buckets))})
			c = &out.Tiers[len(out.Tiers)-1]
			for i, b := range insight.Buckets {
				c.Buckets[i].Range = b
			}
			byTier = map[string]*PressureCurve{}
			for i := range out.Tiers {
				byTier[out.Tiers[i].Tier] = &out.Tiers[i]
			}
		}
		b := &c.Buckets[insight.Bucket(r.Received)]
		b.ContactDays += r.ContactDays
		b.Events += r.Events
		c.ContactDays += r.ContactDays
		c.Events += r.Events
	}
	for i := range out.Tiers {
		for j := range out.Tiers[i].Buckets {
			b := &out.Tiers[i].Buckets[j]
			b.Per1000 = insight.Per1000(b.Events, b.ContactDays)
		}
	}
	return out, nil
}
