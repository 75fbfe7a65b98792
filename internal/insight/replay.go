package insight

import (
	"slices"
	"time"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// Delivery is one recorded marketing delivery as the replay reads it.
type Delivery struct {
	ID, CampaignID int64
	Priority       int
	// PlannedAt is when it was planned (deliveries.created_at): the
	// replay decides it at that moment, against what was decided before.
	PlannedAt time.Time
	// NotBefore is the run's firing (campaign_runs.fire_at); ExpiresAt its
	// expiry, zero for none.
	NotBefore, ExpiresAt time.Time
	State                outreach.DeliveryState
	Reason               outreach.Reason
	// PlannedFor and SentAt are what really happened.
	PlannedFor time.Time
	SentAt     *time.Time
}

// RecordedSent reports whether the message really went out (or may have:
// unknown and sending count, as they count against caps).
func (d Delivery) RecordedSent() bool {
	return d.State == outreach.DeliverySent || d.State == outreach.DeliverySending || d.State == outreach.DeliveryUnknown
}

// recordedAt is when the message went (or is due): sent_at, else planned_for.
func (d Delivery) recordedAt() time.Time {
	if d.SentAt != nil {
		return *d.SentAt
	}
	return d.PlannedFor
}

// start is the moment the message was asked for: the firing, or its
// planning when that came later. A message planned later than this was
// deferred.
func (d Delivery) start() time.Time {
	if d.PlannedAt.After(d.NotBefore) {
		return d.PlannedAt
	}
	return d.NotBefore
}

// NonCadence reports whether a recorded reason was decided by something
// other than the cadence rule: the contact's consent or address, the
// campaign, the mail server. Such deliveries stay as recorded in a replay.
func NonCadence(r outreach.Reason) bool {
	switch r {
	case outreach.ReasonUnsubscribed, outreach.ReasonTopicOptOut, outreach.ReasonPaused,
		outreach.ReasonSuppressedBounce, outreach.ReasonSuppressedComplaint, outreach.ReasonInvalidAddress,
		outreach.ReasonCanceled, outreach.ReasonFailedPermanent:
		return true
	}
	return false
}

// History is one contact's recorded marketing deliveries.
type History struct {
	ContactID int64
	Location  *time.Location // the contact's zone now (nil: UTC)
	// Prior are the moments of messages sent before the replayed period:
	// fixed, as recorded, because the period's first decisions depend on
	// them.
	Prior []time.Time
	// Deliveries are the period's deliveries, any order.
	Deliveries []Delivery
}

// Fate is what a delivery would become under the replayed rule.
type Fate uint8

// Fates. Sent includes messages that were deferred and then sent (Deferred
// says so); Pending are deferred past the replay's horizon.
const (
	FateSent Fate = iota
	FatePending
	FateExpired
	FatePreempted
	FateSkipped // a non-cadence reason: as recorded
)

// Outcome is one delivery's fate in a replay.
type Outcome struct {
	Delivery *Delivery
	Fate     Fate
	At       time.Time // when it would go; zero when expired, preempted or skipped
	Deferred bool      // would go later than asked
}

// Replay decides one contact's deliveries again under rule, in planning
// order, with the cadence engine the planner uses (cadence.Place, with
// priority arbitration), jitter off: each delivery is decided at its
// planning moment against the messages replayed before it — those whose
// replayed moment has passed count as sent, later ones as reservations
// that a higher-priority message may displace. Non-cadence skips stay
// skipped and take no slot. A replayed message whose moment is after
// horizon is pending.
func Replay(rule outreach.Rule, h History, horizon time.Time) []Outcome {
	ds := slices.Clone(h.Deliveries)
	slices.SortFunc(ds, func(a, b Delivery) int {
		if c := a.PlannedAt.Compare(b.PlannedAt); c != 0 {
			return c
		}
		return compareID(a.ID, b.ID)
	})
	out := make([]Outcome, len(ds))
	type slot struct {
		i        int
		at       time.Time
		priority int
		expires  time.Time
	}
	var live []slot // replayed messages still going, in no order
	hist := make([]cadence.Event, 0, len(h.Prior)+len(ds))
	// Messages older than the rule's longest window cannot affect a
	// decision; leaving them out keeps each decision small.
	longest := rule.LongestWindow()
	for i := range ds {
		d := &ds[i]
		out[i].Delivery = d
		if NonCadence(d.Reason) {
			out[i].Fate = FateSkipped
			continue
		}
		now := d.PlannedAt
		hist = hist[:0]
		since := now.Add(-longest)
		for _, p := range h.Prior {
			if p.After(since) {
				hist = append(hist, cadence.Event{At: p})
			}
		}
		var lower map[int64]time.Time
		for k, s := range live {
			if !s.at.After(since) {
				continue
			}
			reserved := s.at.After(now)
			hist = append(hist, cadence.Event{ID: int64(k + 1), At: s.at, Priority: s.priority, Reserved: reserved})
			if reserved {
				if lower == nil {
					lower = map[int64]time.Time{}
				}
				lower[int64(k+1)] = s.expires
			}
		}
		req := cadence.Request{Rule: rule, Location: h.Location, History: hist, Now: now, NotBefore: d.NotBefore,
			ExpiresAt: d.ExpiresAt, Priority: d.Priority}
		dec, displaced := cadence.Place(req, lower, nil, 0)
		if len(displaced) > 0 {
			gone := map[int]bool{}
			for _, m := range displaced {
				k := int(m.ID - 1)
				if m.Expired {
					out[live[k].i].Fate = FatePreempted
					gone[k] = true
					continue
				}
				live[k].at = m.At
			}
			kept := live[:0]
			for k, s := range live {
				if !gone[k] {
					kept = append(kept, s)
				}
			}
			live = kept
		}
		if dec.Reason == outreach.ReasonExpired {
			out[i].Fate = FateExpired
			continue
		}
		live = append(live, slot{i: i, at: dec.At, priority: d.Priority, expires: d.ExpiresAt})
	}
	for _, s := range live {
		o := &out[s.i]
		o.At = s.at
		o.Deferred = s.at.After(o.Delivery.start())
		o.Fate = FateSent
		if s.at.After(horizon) {
			o.Fate = FatePending
		}
	}
	return out
}

func compareID(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// PeakIn is the largest number of the moments that fall into any window
// of length w (half-open, as caps count): "messages per contact per 30
// days" of the replay's histogram.
func PeakIn(ts []time.Time, w time.Duration) int {
	s := slices.Clone(ts)
	slices.SortFunc(s, time.Time.Compare)
	best, lo := 0, 0
	for hi := range s {
		for !s[hi].Before(s[lo].Add(w)) {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}
