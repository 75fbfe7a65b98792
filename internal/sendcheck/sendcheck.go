// Package sendcheck holds the send path's rules as pure functions, with the
// clock and randomness passed in: the verdict on a due delivery at the
// moment it would go (Check), the next valid moment for one that may not go
// yet (Replan), and what the mail server's answer makes of a claimed
// delivery (Next). The send worker loads what they need, asks them, and
// writes their answers in one set-based statement per chunk; the rules are
// table- and property-tested here like the cadence engine they build on.
package sendcheck

import (
	"math/rand/v2"
	"time"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
)

// Input is everything one delivery's send-time check depends on, read under
// the lock on the contact.
type Input struct {
	Contact     outreach.Contact
	Suppression outreach.SuppressionReason // "" when the address is not suppressed
	Campaign    outreach.Campaign
	Delivery    outreach.Delivery // Marketing and ExpiresAt are read
	Tier        outreach.Tier     // the contact's effective tier now
	// NoTier: the contact's assigned tier is not among the tiers this is
	// decided with (planner.EffectiveTier said false), so there is no rule:
	// a marketing delivery ends with ReasonNoTier, never sent uncapped.
	NoTier bool
	Zone   *time.Location // the contact's zone (the caller resolves the default)
	// Sent is what was really sent to the contact lately (or may have
	// been: sending, unknown), plus what this batch already claimed for
	// them. Reservations do not count here: they were planned against
	// each other, and this message is one of them.
	Sent []cadence.Event
	Now  time.Time
}

// Action is what the send worker does with a due delivery.
type Action uint8

// Actions.
const (
	// Send: the message may go now.
	Send Action = iota + 1
	// Hold: the campaign is paused; the delivery stays scheduled and
	// untouched until resume re-plans it.
	Hold
	// End: the message must never go; the verdict's State, Reason and Rule
	// say how it ends.
	End
	// Later: the message may go, but not now (a cap or the window moved
	// since it was planned): it is re-planned to its next valid moment.
	Later
)

// Verdict is the check's answer for one delivery.
type Verdict struct {
	Action Action
	State  outreach.DeliveryState // with End
	Reason outreach.Reason        // with End and Later
	Rule   string                 // with End and Later
}

// Check decides whether a due delivery may go now. Anything that changed
// since it was planned (an unsubscribe, a suppression, a topic opt-out, a
// pause, a paused or canceled campaign, its expiry, what was really sent)
// ends or re-plans it; it is never sent against a rule.
func Check(in Input) Verdict {
	switch in.Campaign.Status {
	case outreach.CampaignPaused:
		return Verdict{Action: Hold}
	case outreach.CampaignCanceled:
		return end(outreach.DeliverySkipped, outreach.ReasonCanceled, "")
	}
	if r := planner.Blocked(in.Contact, in.Suppression, in.Campaign.Category, in.Campaign.Topic, in.Now); r != "" {
		return end(outreach.DeliverySkipped, r, "")
	}
	if in.Delivery.ExpiresAt != nil && in.Now.After(*in.Delivery.ExpiresAt) {
		return end(outreach.DeliverySkipped, outreach.ReasonExpired, "expires_after")
	}
	if in.Delivery.Marketing {
		if in.NoTier {
			return end(outreach.DeliverySkipped, outreach.ReasonNoTier, "")
		}
		req := cadence.Request{Rule: in.Tier.Rule, Location: in.Zone, History: in.Sent, Now: in.Now}
		if ok, reason, rule := cadence.Check(req); !ok {
			return Verdict{Action: Later, Reason: reason, Rule: rule}
		}
	}
	return Verdict{Action: Send}
}

func end(state outreach.DeliveryState, reason outreach.Reason, rule string) Verdict {
	return Verdict{Action: End, State: state, Reason: reason, Rule: rule}
}

// ReplanInput is what re-planning one delivery depends on.
type ReplanInput struct {
	Tier outreach.Tier
	// NoTier: there is no tier to decide by (as Input.NoTier); the
	// delivery is skipped with ReasonNoTier.
	NoTier bool
	Zone   *time.Location
	// History is every delivery of the contact that counts against caps
	// (sent, sending, unknown and reserved), except the one re-planned.
	History   []cadence.Event
	Now       time.Time
	ExpiresAt *time.Time
	Priority  int
	Spread    time.Duration // jitter for a deferred message
}

// Move is where a re-planned delivery goes.
type Move struct {
	// Skip: the delivery is skipped with Reason and Rule, never sent: its
	// next valid moment is past its expiry (ReasonExpired: never sent
	// late), or there is no tier to decide by (ReasonNoTier).
	Skip   bool
	At     time.Time
	Reason outreach.Reason
	Rule   string
}

// Replan finds a delivery's next valid moment under the rules as they are
// now, through the cadence engine, or says it is skipped.
func Replan(in ReplanInput, rng *rand.Rand) Move {
	if in.NoTier {
		return Move{Skip: true, Reason: outreach.ReasonNoTier}
	}
	req := cadence.Request{Rule: in.Tier.Rule, Location: in.Zone, History: in.History, Now: in.Now, Priority: in.Priority}
	if in.ExpiresAt != nil {
		req.ExpiresAt = *in.ExpiresAt
	}
	d := cadence.Decide(req, rng, in.Spread)
	if d.Reason == outreach.ReasonExpired {
		return Move{Skip: true, Reason: d.Reason, Rule: d.Rule}
	}
	return Move{At: d.At, Reason: d.Reason, Rule: d.Rule}
}
