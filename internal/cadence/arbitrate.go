package cadence

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// Decide is Earliest plus jitter. A deferred message is moved forward by a
// uniform random amount in [0, spread) and re-validated (the earliest valid
// moment at or after the jittered one), so that a million messages deferred
// to the same window opening do not all fire in the same second. Jitter is
// whole seconds when spread is at least a second, which keeps planned times
// readable and exact after storage with microsecond precision.
//
// Jitter never makes a message expire: if the jittered slot would be past
// ExpiresAt, the unjittered Earliest is used. Messages that may go now are
// not jittered (nobody is waiting in line with them), and neither are
// expired ones. A nil rng or a non-positive spread disables jitter.
//
// Reason and Rule always describe the unjittered Earliest: the constraint
// that really deferred the message, not the dice.
func Decide(req Request, rng *rand.Rand, spread time.Duration) Decision {
	var ivBuf [inlineEvents]interval
	var hBuf [inlineEvents]time.Time
	start := req.start()
	win := newWindow(req.Rule.SendWindow, req.Location)
	e := prepare(req.Rule, &win, req.History, start, ivBuf[:], hBuf[:])
	return e.jittered(start, req.ExpiresAt.Round(0), rng, spread)
}

// jittered is Decide on a prepared engine.
func (e *engine) jittered(start, expires time.Time, rng *rand.Rand, spread time.Duration) Decision {
	d := e.decide(start, expires)
	if !d.Deferred() || rng == nil || spread <= 0 {
		return d
	}
	j := time.Duration(rng.Int64N(int64(spread)))
	if spread >= time.Second {
		j = j.Truncate(time.Second)
	}
	if j == 0 {
		return d
	}
	if t, _, ok := e.sweep(d.Earliest.Add(j), expires); ok {
		d.At = t.UTC()
	}
	return d
}

// Displaced is a lower-priority reserved delivery that a higher-priority
// message took the slot of, re-planned.
type Displaced struct {
	ID int64
	// At is the new planned time (jittered like any deferral); zero when
	// Expired.
	At time.Time
	// Reason is the binding constraint of the new time (usually a deferral),
	// or ReasonPreempted when Expired: the delivery is skipped because a
	// more important message took its place.
	Reason outreach.Reason
	// Rule names the binding constraint of the new time.
	Rule string
	// Expired is set when the delivery has no valid slot before its own
	// expiry any more.
	Expired bool
}

// Place plans a new message with priority arbitration (spec: "when a
// higher-priority campaign needs a slot held by a scheduled, lower-priority
// delivery, it takes it").
//
// The lower-priority reserved events are those in History with Reserved set
// and Priority < req.Priority; sent events and reservations of equal or
// higher priority are never moved. If the slot computed without the lower
// ones is earlier than the slot with them, the new message takes the earlier
// slot, and every lower reservation that no longer fits is displaced and
// re-planned: not earlier than its old time (its campaign may not start
// sooner) nor than Now, valid against the sent events, the higher and equal
// reservations, the new message and the lower reservations already kept or
// re-planned, or Expired when that is past its expiry in lowerExpiry (absent
// means it never expires). Lower reservations are visited most important
// first, then earliest first, so the more important keep their places.
//
// Building the set one message at a time, each checked against all before
// it, keeps every cap and min gap: a message that fits into a set that
// respects the caps leaves a set that respects the caps.
//
// Without displacement Place is Decide and returns no Displaced.
func Place(req Request, lowerExpiry map[int64]time.Time, rng *rand.Rand, spread time.Duration) (Decision, []Displaced) {
	start := req.start()
	expires := req.ExpiresAt.Round(0)
	var keep, lower []Event
	for _, h := range req.History {
		if h.Reserved && h.Priority < req.Priority {
			lower = append(lower, h)
		} else {
			keep = append(keep, h)
		}
	}
	if len(lower) == 0 {
		return Decide(req, rng, spread), nil
	}
	var ivBuf [inlineEvents]interval
	var hBuf [inlineEvents]time.Time
	win := newWindow(req.Rule.SendWindow, req.Location)
	full := prepare(req.Rule, &win, req.History, start, ivBuf[:], hBuf[:])
	withAll := full.decide(start, expires)
	free := prepare(req.Rule, &win, keep, start, nil, nil)
	alone := free.decide(start, expires)
	if alone.Reason == outreach.ReasonExpired || (withAll.Reason != outreach.ReasonExpired && !alone.Earliest.Before(withAll.Earliest)) {
		return full.jittered(start, expires, rng, spread), nil
	}
	d := free.jittered(start, expires, rng, spread)
	if withAll.Reason != outreach.ReasonExpired && !d.At.Before(withAll.Earliest) {
		// The dice threw the message past the slot it could have had without
		// taking anyone's place: nothing is gained by displacing.
		return full.jittered(start, expires, rng, spread), nil
	}

	set := append(keep, Event{At: d.At, Priority: req.Priority, Reserved: true})
	slices.SortStableFunc(lower, func(a, b Event) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return compareInt64(a.ID, b.ID)
	})
	var displaced []Displaced
	for _, l := range lower {
		at := l.At.Round(0)
		fit := prepare(req.Rule, &win, set, at, nil, nil)
		if by, bad := fit.forbidden(at); !bad || by.kind == kindWindow {
			// Still fits next to the new message. The window is not the new
			// message's doing, so a reservation outside it is left alone.
			set = append(set, l)
			continue
		}
		// Never earlier than its old time (its campaign may not start sooner)
		// nor than now.
		from := at
		if now := req.Now.Round(0); from.Before(now) {
			from = now
		}
		exp := lowerExpiry[l.ID].Round(0)
		nd := fit.jittered(from, exp, rng, spread)
		if nd.Reason == outreach.ReasonExpired {
			displaced = append(displaced, Displaced{ID: l.ID, Reason: outreach.ReasonPreempted, Rule: nd.Rule, Expired: true})
			continue
		}
		displaced = append(displaced, Displaced{ID: l.ID, At: nd.At, Reason: nd.Reason, Rule: nd.Rule})
		l.At = nd.At
		set = append(set, l)
	}
	return d, displaced
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
