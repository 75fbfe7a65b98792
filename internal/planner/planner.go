// Package planner decides, for one contact and one campaign run, what
// happens to the message: scheduled now, deferred to a later moment, or
// skipped with a reason. It is pure: the store hands it the contact, their
// cap history and suppressions; the clock and randomness come in as
// arguments. The plan and send jobs, and the forecast, all decide through it.
package planner

import (
	"math/rand/v2"
	"time"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// Target is one contact with everything needed to decide for them.
type Target struct {
	Contact     outreach.Contact
	Suppression outreach.SuppressionReason // "" when the address is not suppressed
	History     []cadence.Event            // marketing deliveries counting against caps
	LowerExpiry map[int64]time.Time        // expiry of reserved deliveries, by id, for arbitration
	ReservedBy  map[int64]int64            // campaign of reserved deliveries, by id: whom a forecast says it displaces
}

// Run is the campaign run being planned.
type Run struct {
	Campaign  outreach.Campaign
	ID        int64
	FireAt    time.Time
	ExpiresAt time.Time // zero: never
}

// Outcome is the decision for one target.
type Outcome struct {
	State      outreach.DeliveryState // scheduled or skipped
	Reason     outreach.Reason
	Rule       string
	PlannedFor time.Time
	Tier       string // the effective tier, whose content variant is sent
	Displaced  []cadence.Displaced
}

// Planner holds the rules in force while a batch is planned.
type Planner struct {
	Tiers       map[string]outreach.Tier
	DefaultZone *time.Location
	Spread      time.Duration // jitter for deferred messages
}

// New returns a planner for the tiers in force now.
func New(tiers []outreach.Tier, defaultZone *time.Location, spread time.Duration) *Planner {
	p := &Planner{Tiers: make(map[string]outreach.Tier, len(tiers)), DefaultZone: defaultZone, Spread: spread}
	for _, t := range tiers {
		p.Tiers[t.Key] = t
	}
	return p
}

// Window is the longest cap window (or min gap) of any tier: how far back
// a contact's history matters to any decision.
func (p *Planner) Window() time.Duration {
	var l time.Duration
	for _, t := range p.Tiers {
		l = max(l, t.Rule.LongestWindow())
	}
	return l
}

// EffectiveTier is the tier in force for the contact among the planner's
// tiers, by the domain's rule (outreach.EffectiveTier): the stricter of
// their assigned and preferred tier; false when the assigned tier is not
// among them.
func (p *Planner) EffectiveTier(c outreach.Contact) (outreach.Tier, bool) {
	return outreach.EffectiveTier(p.Tiers, c.Tier, c.PreferredTier)
}

// Knows reports whether the planner has every tier the contact names, its
// assigned and its preferred one: a planner built before a tier was
// created does not, and the planning job then reads the tiers again.
func (p *Planner) Knows(c outreach.Contact) bool {
	if _, ok := p.Tiers[c.Tier]; !ok {
		return false
	}
	_, ok := p.Tiers[c.PreferredTier]
	return ok || c.PreferredTier == ""
}

// Zone is the contact's time zone, or the configured default.
func (p *Planner) Zone(c outreach.Contact) *time.Location {
	if loc, ok := outreach.LoadZone(c.Timezone); ok {
		return loc
	}
	if p.DefaultZone != nil {
		return p.DefaultZone
	}
	return time.UTC
}

// Blocked says why a contact may not receive this category of mail at all,
// or "" when they may. Transactional mail only stops for bounces,
// complaints, manual suppressions and erasure; marketing also for
// unsubscribes, topic opt-outs and pauses.
func Blocked(c outreach.Contact, sup outreach.SuppressionReason, cat outreach.Category, topic string, now time.Time) outreach.Reason {
	switch {
	case c.Status == outreach.StatusErased:
		// Erased: no one is left to write to, whatever the category (the
		// row's placeholder address has no suppression of its own).
		return outreach.ReasonUnsubscribed
	case c.Status == outreach.StatusBounced || sup == outreach.SuppressBounce:
		return outreach.ReasonSuppressedBounce
	case c.Status == outreach.StatusComplained || sup == outreach.SuppressComplaint:
		return outreach.ReasonSuppressedComplaint
	case sup == outreach.SuppressManual || sup == outreach.SuppressErased:
		return outreach.ReasonUnsubscribed
	case cat == outreach.Transactional:
		return ""
	case c.Status == outreach.StatusUnsubscribed || sup == outreach.SuppressUnsubscribe:
		return outreach.ReasonUnsubscribed
	case topic != "" && c.OptedOut(topic):
		return outreach.ReasonTopicOptOut
	case c.PausedUntil != nil && c.PausedUntil.After(now):
		return outreach.ReasonPaused
	}
	return ""
}

// Plan decides for one target.
func (p *Planner) Plan(run Run, t Target, now time.Time, rng *rand.Rand) Outcome {
	c := t.Contact
	tier, ok := p.EffectiveTier(c)
	out := Outcome{Tier: tier.Key}
	if !ok {
		out.Tier = c.Tier
	}
	if r := Blocked(c, t.Suppression, run.Campaign.Category, run.Campaign.Topic, now); r != "" {
		out.State, out.Reason = outreach.DeliverySkipped, r
		return out
	}
	if !ok && run.Campaign.Category == outreach.Marketing {
		// No rule, no caps: never planned uncapped (ReasonNoTier).
		out.State, out.Reason = outreach.DeliverySkipped, outreach.ReasonNoTier
		return out
	}
	start := run.FireAt
	if start.Before(now) {
		start = now
	}
	if run.Campaign.Category == outreach.Transactional {
		out.State, out.Reason, out.PlannedFor = outreach.DeliveryScheduled, outreach.ReasonScheduled, start
		return out
	}
	req := cadence.Request{
		Rule: tier.Rule, Location: p.Zone(c), History: t.History, Now: now,
		NotBefore: run.FireAt, ExpiresAt: run.ExpiresAt, Priority: run.Campaign.Priority,
	}
	d, displaced := cadence.Place(req, t.LowerExpiry, rng, p.Spread)
	out.Reason, out.Rule, out.Displaced = d.Reason, d.Rule, displaced
	if d.Reason == outreach.ReasonExpired {
		out.State = outreach.DeliverySkipped
		return out
	}
	out.State, out.PlannedFor = outreach.DeliveryScheduled, d.At
	return out
}
