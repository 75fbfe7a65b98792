package insight

import (
	"encoding/json"
	"slices"
)

// Kind is a negative event that fatigue counts.
type Kind string

// The negative events. Unsubscribe, complaint, downgrade and pause are the
// ones the pressure curve counts (Negative); a hard bounce is the address's
// fault more than the cadence's, and a topic opt-out rejects a subject, not
// the frequency.
const (
	Unsubscribe Kind = "unsubscribe"
	Complaint   Kind = "complaint"
	HardBounce  Kind = "hard_bounce"
	Downgrade   Kind = "downgrade"
	Pause       Kind = "pause"
	TopicOptOut Kind = "topic_opt_out"
)

// Kinds lists every kind in the order the API shows them.
var Kinds = []Kind{Unsubscribe, Complaint, HardBounce, Downgrade, Pause, TopicOptOut}

// Negative reports whether the pressure curve counts the kind.
func (k Kind) Negative() bool {
	return k == Unsubscribe || k == Complaint || k == Downgrade || k == Pause
}

// TimelineEvent is one contact_events row as Classify needs it.
type TimelineEvent struct {
	Kind   string          // contact_events.kind
	Detail json.RawMessage // contact_events.detail
	// Assigned is the contact's assigned tier, used with the detail's
	// before.preferred_tier to tell the effective tier before a
	// preference change.
	Assigned string
}

// Classify reads the negative events one timeline event stands for, each
// with its count (a change that opts out of two topics is two topic
// opt-outs). ranks maps tier keys to ranks. It knows the event kinds the
// store writes (internal/postgres prefs.go and suppressions.go):
//   - unsubscribed → unsubscribe; suppressed with reason unsubscribe (an
//     API suppression of that reason) too;
//   - suppressed with reason complaint → complaint, hard_bounce → hard bounce
//     (manual and erased suppressions are the company's doing: none);
//   - paused → pause;
//   - preferences_changed → a downgrade when after.preferred_tier ranks
//     lower than the effective tier before (the stricter of the assigned
//     tier and before.preferred_tier), and one topic opt-out per topic in
//     after.topics_opted_out that was not in before.
func Classify(ev TimelineEvent, ranks map[string]int) map[Kind]int {
	out := map[Kind]int{}
	switch ev.Kind {
	case "unsubscribed":
		out[Unsubscribe] = 1
	case "paused":
		out[Pause] = 1
	case "suppressed":
		var d struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(ev.Detail, &d)
		switch d.Reason {
		case "complaint":
			out[Complaint] = 1
		case "hard_bounce":
			out[HardBounce] = 1
		case "unsubscribe":
			out[Unsubscribe] = 1
		}
	case "preferences_changed":
		var d struct {
			Before prefs `json:"before"`
			After  prefs `json:"after"`
		}
		if json.Unmarshal(ev.Detail, &d) != nil {
			return out
		}
		if IsDowngrade(ev.Assigned, d.Before.PreferredTier, d.After.PreferredTier, ranks) {
			out[Downgrade] = 1
		}
		n := 0
		for _, t := range d.After.TopicsOptedOut {
			if !slices.Contains(d.Before.TopicsOptedOut, t) {
				n++
			}
		}
		if n > 0 {
			out[TopicOptOut] = n
		}
	}
	for k, n := range out {
		if n == 0 {
			delete(out, k)
		}
	}
	return out
}

type prefs struct {
	PreferredTier  string   `json:"preferred_tier"`
	TopicsOptedOut []string `json:"topics_opted_out"`
}

// IsDowngrade reports whether choosing after as the preferred tier asks for
// less than the contact had: after ranks lower than the effective tier
// before (the stricter of assigned and before). Unknown tiers never count.
func IsDowngrade(assigned, before, after string, ranks map[string]int) bool {
	if after == "" || after == before {
		return false
	}
	ra, ok := ranks[after]
	if !ok {
		return false
	}
	eff, ok := ranks[assigned]
	if rb, okb := ranks[before]; okb && (!ok || rb < eff) {
		eff, ok = rb, true
	}
	return ok && ra < eff
}
