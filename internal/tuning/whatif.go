package tuning

import (
	"context"
	"maps"
	"strconv"
	"time"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/insight"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// Assumptions are what the replay takes as given; the answer lists them.
var Assumptions = []string{
	"The replayed contacts are those whose effective tier is this tier now; each of their marketing deliveries of runs fired in the period is decided again, in planning order, at the moment it was planned.",
	"Audience membership is as it was: a contact is replayed for exactly the runs that planned a delivery for them.",
	"Send windows are judged in each contact's current time zone (the default zone when they have none).",
	"Unsubscribes, suppressions, topic opt-outs, pauses, cancellations and permanent failures are as they were recorded: those deliveries stay skipped and take no slot.",
	"Messages sent before the period are fixed as recorded; every replayed message is sent at its planned moment (send-time delays and re-checks are not replayed).",
	"Jitter is ignored: deferred messages go at the earliest valid moment.",
	"Priority arbitration is replayed as the planner does it: a higher-priority message may displace a lower-priority reservation, which moves or is preempted.",
	"Only the rule changes; the tier's rank and the other tiers stay as they are.",
}

// WhatIf is a proposed rule replayed over the past days and over what is
// scheduled now, and forecast for the next firings of recurring campaigns.
type WhatIf struct {
	Tier        string
	Current     outreach.Rule
	Proposed    outreach.Rule
	Days        int
	From, To    time.Time
	Replay      insight.ReplayResult
	Scheduled   insight.Moves
	ScheduledBy []insight.CampaignMoves
	Recurring   []RecurringForecast
	Assumptions []string
	// ReadTime and DecideTime split the replay's time between the store
	// and the cadence engine.
	ReadTime, DecideTime time.Duration
}

// RecurringForecast is the next firing of a recurring campaign for the
// tier's contacts, under the rule in force and under the proposed one.
type RecurringForecast struct {
	CampaignID int64
	Name       string
	FireAt     time.Time
	Current    campaign.TierForecast
	Proposed   campaign.TierForecast
}

// maxRecurring bounds the recurring campaigns forecast in one what-if.
const maxRecurring = 20

// replayPage is how many contacts one replay read takes.
const replayPage = 5000

// MaxWhatIfDays is the longest period a what-if replays, in days.
const MaxWhatIfDays = 90

// WhatIfDaysError is the field error for days out of range (1 to
// MaxWhatIfDays), the same wherever the days are read.
var WhatIfDaysError = outreach.FieldError{Field: "days", Message: "must be a whole number from 1 to " + strconv.Itoa(MaxWhatIfDays)}

// WhatIfErrors is every field at fault in a what-if of proposed over days,
// said at once: read, the errors reading the rule from a form or a body
// gave, or when there are none the rule's own (Tier.Validate), and the
// days when out of range. WhatIf asks it, and so do the API and the
// console before they can ask WhatIf (a rule that could not be read).
func WhatIfErrors(proposed outreach.Tier, read []outreach.FieldError, days int) []outreach.FieldError {
	errs := read
	if len(errs) == 0 {
		errs = proposed.Validate()
	}
	if days < 1 || days > MaxWhatIfDays {
		errs = append(errs, WhatIfDaysError)
	}
	return errs
}

// WhatIf replays proposed (a tier as PUT /api/v1/tiers/{key} takes it,
// validated the same way) over the last days days (1–MaxWhatIfDays)
// without writing anything: one read-only transaction. An unknown tier is
// ENOTFOUND; an invalid rule or days out of range is EINVALID naming every
// field at fault at once, the rule's and the days, so that a form shows
// them all.
func (s *Service) WhatIf(ctx context.Context, proposed outreach.Tier, days int) (WhatIf, error) {
	if days == 0 {
		days = 30
	}
	current, err := s.store.Tier(ctx, proposed.Key)
	if err != nil {
		return WhatIf{}, err
	}
	if errs := WhatIfErrors(proposed, nil, days); len(errs) > 0 {
		return WhatIf{}, outreach.Invalid(errs...)
	}
	now := s.cfg.Clock.Now()
	out := WhatIf{Tier: current.Key, Current: current.Rule, Proposed: proposed.Rule, Days: days,
		From: now.Add(-time.Duration(days) * 24 * time.Hour), To: now, Assumptions: Assumptions}
	base, err := s.campaigns.Planner(ctx)
	if err != nil {
		return WhatIf{}, err
	}
	tiers := maps.Clone(base.Tiers)
	t := tiers[current.Key]
	t.Rule = proposed.Rule
	tiers[current.Key] = t
	prop := &planner.Planner{Tiers: tiers, DefaultZone: base.DefaultZone, Spread: base.Spread}
	since := out.From.Add(-max(current.Rule.LongestWindow(), proposed.Rule.LongestWindow()))
	rp := insight.NewReplayer(proposed.Rule, now)
	rs := insight.NewRescheduler(proposed.Rule, now)
	err = s.store.InReadTx(ctx, func(tx *postgres.Tx) error {
		for after := int64(0); ; {
			start := time.Now()
			page, err := tx.ReplayPage(ctx, current.Key, after, replayPage, since)
			if err != nil {
				return err
			}
			out.ReadTime += time.Since(start)
			if len(page) == 0 {
				break
			}
			after = page[len(page)-1].ID
			start = time.Now()
			for _, c := range page {
				s.replayContact(rp, rs, c, out.From)
			}
			out.DecideTime += time.Since(start)
		}
		recurring, err := tx.ScheduledRecurring(ctx)
		if err != nil {
			return err
		}
		for i, c := range recurring {
			if i == maxRecurring {
				break
			}
			was, err := s.campaigns.ForecastTx(ctx, tx, c.ID, base)
			if err != nil {
				return err
			}
			would, err := s.campaigns.ForecastTx(ctx, tx, c.ID, prop)
			if err != nil {
				return err
			}
			rf := RecurringForecast{CampaignID: c.ID, Name: c.Name, FireAt: would.FireAt}
			if tf := was.Tiers[current.Key]; tf != nil {
				rf.Current = *tf
			}
			if tf := would.Tiers[current.Key]; tf != nil {
				rf.Proposed = *tf
			}
			out.Recurring = append(out.Recurring, rf)
		}
		return nil
	})
	if err != nil {
		return WhatIf{}, err
	}
	out.Replay = rp.Result()
	out.Scheduled, out.ScheduledBy = rs.Result()
	return out, nil
}

// replayContact splits a contact's deliveries: those of runs fired before
// the period are history as recorded; those fired in it are replayed; those
// scheduled now are re-planned.
func (s *Service) replayContact(rp *insight.Replayer, rs *insight.Rescheduler, c postgres.ReplayContact, from time.Time) {
	loc := s.cfg.DefaultZone
	if z, ok := outreach.LoadZone(c.Timezone); ok {
		loc = z
	}
	h := insight.History{ContactID: c.ID, Location: loc}
	var sched []insight.Delivery
	var sent []time.Time
	for _, d := range c.Deliveries {
		if d.RecordedSent() {
			if d.SentAt != nil {
				sent = append(sent, *d.SentAt)
			} else {
				sent = append(sent, d.PlannedFor)
			}
		}
		if d.State == outreach.DeliveryScheduled {
			sched = append(sched, d)
		}
		if d.NotBefore.Before(from) {
			if d.RecordedSent() {
				h.Prior = append(h.Prior, sent[len(sent)-1])
			}
			continue
		}
		h.Deliveries = append(h.Deliveries, d)
	}
	if len(h.Deliveries) > 0 {
		rp.Add(h)
	}
	if len(sched) > 0 {
		rs.Add(insight.History{ContactID: c.ID, Location: loc, Prior: sent, Deliveries: sched})
	}
}
