package insight

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Thresholds are one tier's drift rules' knobs. Each rule below fires when
// its threshold is reached; zero disables a rule.
type Thresholds struct {
	// PreferenceAge: a preferred tier stricter than the assigned one, kept
	// at least this long, suggests moving down.
	PreferenceAge time.Duration `json:"preference_age"`
	// Pauses within PauseWindow suggest moving down.
	Pauses      int           `json:"pauses"`
	PauseWindow time.Duration `json:"pause_window"`
	// OptOuts (topics opted out of) within OptOutWindow suggest moving down.
	OptOuts      int           `json:"opt_outs"`
	OptOutWindow time.Duration `json:"opt_out_window"`
	// OverdueFactor: no message for this many target intervals of the
	// effective tier suggests moving down (we do not keep this tier's
	// promise; a tier with a longer target is honest).
	OverdueFactor float64 `json:"overdue_factor"`
	// CloserSignals company signals (purchases, replies, meetings) within
	// CloserWindow suggest moving up.
	CloserSignals int           `json:"closer_signals"`
	CloserWindow  time.Duration `json:"closer_window"`
}

// DefaultThresholds apply to a tier without thresholds of its own.
func DefaultThresholds() Thresholds {
	day := 24 * time.Hour
	return Thresholds{PreferenceAge: 30 * day, Pauses: 2, PauseWindow: 90 * day, OptOuts: 2, OptOutWindow: 90 * day,
		OverdueFactor: 2, CloserSignals: 3, CloserWindow: 60 * day}
}

// Validate checks thresholds, naming the JSON field at fault.
func (t Thresholds) Validate() []FieldProblem {
	var out []FieldProblem
	year := 366 * 24 * time.Hour
	for _, d := range []struct {
		f string
		v time.Duration
	}{{"preference_age", t.PreferenceAge}, {"pause_window", t.PauseWindow}, {"opt_out_window", t.OptOutWindow}, {"closer_window", t.CloserWindow}} {
		if d.v < 0 || d.v > year {
			out = append(out, FieldProblem{d.f, "must be a duration from 0 to 366d"})
		}
	}
	for _, n := range []struct {
		f string
		v int
	}{{"pauses", t.Pauses}, {"opt_outs", t.OptOuts}, {"closer_signals", t.CloserSignals}} {
		if n.v < 0 || n.v > 1000 {
			out = append(out, FieldProblem{n.f, "must be a whole number from 0 to 1000"})
		}
	}
	if t.OverdueFactor < 0 || t.OverdueFactor > 100 {
		out = append(out, FieldProblem{"overdue_factor", "must be a number from 0 to 100"})
	}
	if t.Pauses > 0 && t.PauseWindow == 0 {
		out = append(out, FieldProblem{"pause_window", "must be positive when pauses is set"})
	}
	if t.OptOuts > 0 && t.OptOutWindow == 0 {
		out = append(out, FieldProblem{"opt_out_window", "must be positive when opt_outs is set"})
	}
	if t.CloserSignals > 0 && t.CloserWindow == 0 {
		out = append(out, FieldProblem{"closer_window", "must be positive when closer_signals is set"})
	}
	return out
}

// FieldProblem names a field and what is wrong with it (the caller turns
// it into outreach.FieldError).
type FieldProblem struct{ Field, Message string }

// SignalTypes are the company signals contacts can be given.
var SignalTypes = []string{"purchase", "reply", "meeting", "support_ticket"}

// ValidSignalType reports whether s is a known signal type.
func ValidSignalType(s string) bool { return slices.Contains(SignalTypes, s) }

// closeness says whether a signal type shows a closer relationship. A
// support ticket does not: it is evidence of use, and of friction.
func closeness(t string) bool { return t == "purchase" || t == "reply" || t == "meeting" }

// Fact is one dated piece of evidence: a signal, a pause, a topic opt-out,
// a preference choice or the last message.
type Fact struct {
	Kind   string    `json:"kind"` // signal type, "pause", "topic_opt_out", "preferred_tier", "last_message"
	ID     int64     `json:"id,omitempty"`
	At     time.Time `json:"at"`
	Detail string    `json:"detail,omitempty"`
}

// TierRef is a tier as the drift rules see it.
type TierRef struct {
	Key            string
	Rank           int
	TargetInterval time.Duration
}

// DriftInput is what the rules look at for one contact.
type DriftInput struct {
	ContactID int64
	Assigned  string
	Preferred string    // "" for none
	ChoseAt   time.Time // when the preferred tier was chosen (zero: unknown)
	Created   time.Time
	LastSent  *time.Time
	Signals   []Fact // company signals
	Pauses    []Fact
	OptOuts   []Fact // one per topic opted out of
}

// Evidence is one rule that fired, in words, with the facts behind it.
type Evidence struct {
	Rule   string `json:"rule"`   // preference, pauses, opt_outs, overdue, signals
	Toward string `json:"toward"` // "closer" or "further"
	Text   string `json:"text"`
	Facts  []Fact `json:"facts"`
}

// Suggestion is one contact's drift: move from a tier to the next one by
// rank, with the evidence and a confidence that is a plain rule: "high"
// when two or more rules agree, "medium" when one does.
type Suggestion struct {
	ContactID   int64
	From, To    string
	Toward      string // closer (up by rank) or further (down)
	Confidence  string
	Evidence    []Evidence
	Fingerprint string
}

// Drift applies the rules of the assigned tier's thresholds to one
// contact. tiers may come in any order. It suggests nothing when no rule
// fires, when rules disagree (as many point up as down), when there is no
// tier in that direction, or when the assigned tier is unknown.
func Drift(in DriftInput, tiers []TierRef, th Thresholds, now time.Time) (Suggestion, bool) {
	ts := slices.Clone(tiers)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Rank < ts[j].Rank })
	at := slices.IndexFunc(ts, func(t TierRef) bool { return t.Key == in.Assigned })
	if at < 0 {
		return Suggestion{}, false
	}
	assigned := ts[at]
	effective := assigned
	if p := slices.IndexFunc(ts, func(t TierRef) bool { return t.Key == in.Preferred }); p >= 0 && ts[p].Rank < assigned.Rank {
		effective = ts[p]
	}
	var ev []Evidence
	if th.PreferenceAge > 0 && effective.Key != assigned.Key {
		chose := in.ChoseAt
		if chose.IsZero() {
			chose = in.Created
		}
		if age := now.Sub(chose); age >= th.PreferenceAge {
			ev = append(ev, Evidence{Rule: "preference", Toward: "further",
				Text:  fmt.Sprintf("chose `%s` as preferred frequency %s ago while assigned `%s`", effective.Key, days(age), assigned.Key),
				Facts: []Fact{{Kind: "preferred_tier", At: chose, Detail: effective.Key}}})
		}
	}
	if f := within(in.Pauses, now, th.PauseWindow); th.Pauses > 0 && len(f) >= th.Pauses {
		ev = append(ev, Evidence{Rule: "pauses", Toward: "further", Facts: f,
			Text: fmt.Sprintf("paused %s in %s", times(len(f)), days(th.PauseWindow))})
	}
	if f := within(in.OptOuts, now, th.OptOutWindow); th.OptOuts > 0 && len(f) >= th.OptOuts {
		ev = append(ev, Evidence{Rule: "opt_outs", Toward: "further", Facts: f,
			Text: fmt.Sprintf("opted out of %d topics in %s", len(f), days(th.OptOutWindow))})
	}
	if t := effective.TargetInterval; th.OverdueFactor > 0 && t > 0 {
		last, kind := in.Created, "created"
		if in.LastSent != nil {
			last, kind = *in.LastSent, "last_message"
		}
		limit := time.Duration(th.OverdueFactor * float64(t))
		if gap := now.Sub(last); gap >= limit {
			what := "no message"
			if kind == "created" {
				what = "never written to"
			}
			ev = append(ev, Evidence{Rule: "overdue", Toward: "further", Facts: []Fact{{Kind: kind, At: last}},
				Text: fmt.Sprintf("overdue: %s for %s, %s× the target interval of `%s` (%s)", what, days(gap),
					strconv.FormatFloat(th.OverdueFactor, 'f', -1, 64), effective.Key, days(t))})
		}
	}
	var closer []Fact
	for _, s := range within(in.Signals, now, th.CloserWindow) {
		if closeness(s.Kind) {
			closer = append(closer, s)
		}
	}
	if th.CloserSignals > 0 && len(closer) >= th.CloserSignals {
		ev = append(ev, Evidence{Rule: "signals", Toward: "closer", Facts: closer,
			Text: fmt.Sprintf("%s in %s while assigned `%s`", signalWords(closer), days(th.CloserWindow), assigned.Key)})
	}
	up, down := 0, 0
	for _, e := range ev {
		if e.Toward == "closer" {
			up++
		} else {
			down++
		}
	}
	s := Suggestion{ContactID: in.ContactID, From: assigned.Key}
	switch {
	case up > down && at+1 < len(ts):
		s.To, s.Toward = ts[at+1].Key, "closer"
	case down > up && at > 0:
		s.To, s.Toward = ts[at-1].Key, "further"
	default:
		return Suggestion{}, false
	}
	agree := max(up, down)
	s.Confidence = "medium"
	if agree >= 2 {
		s.Confidence = "high"
	}
	for _, e := range ev {
		if e.Toward == s.Toward {
			s.Evidence = append(s.Evidence, e)
		}
	}
	s.Fingerprint = fingerprint(s)
	return s, true
}

// within returns the facts in (now-w, now], oldest first.
func within(fs []Fact, now time.Time, w time.Duration) []Fact {
	if w <= 0 {
		return nil
	}
	var out []Fact
	for _, f := range fs {
		if f.At.After(now.Add(-w)) && !f.At.After(now) {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b Fact) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return compareID(a.ID, b.ID)
	})
	return out
}

// fingerprint identifies a suggestion's evidence: the contact, the rules
// and every fact, not the tiers, so evidence once decided on — dismissed,
// or accepted and acted upon — does not push the contact again from the
// new tier. It comes back only when the evidence changes (a new signal,
// another pause, a later last message).
func fingerprint(s Suggestion) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d|%s", s.ContactID, s.Toward)
	for _, e := range s.Evidence {
		fmt.Fprintf(h, "|%s", e.Rule)
		for _, f := range e.Facts {
			fmt.Fprintf(h, ";%s,%d,%d,%s", f.Kind, f.ID, f.At.UnixMicro(), f.Detail)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// days writes a duration in whole days ("40 days", "1 day"), or hours
// below a day.
func days(d time.Duration) string {
	if d < 24*time.Hour {
		h := int(d.Hours())
		if h == 1 {
			return "1 hour"
		}
		return strconv.Itoa(h) + " hours"
	}
	n := int(d / (24 * time.Hour))
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}

func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return strconv.Itoa(n) + " times"
}

// signalWords counts signals in words: "3 purchases and a meeting".
func signalWords(fs []Fact) string {
	counts := map[string]int{}
	for _, f := range fs {
		counts[f.Kind]++
	}
	var parts []string
	for _, k := range []string{"purchase", "reply", "meeting"} {
		switch n := counts[k]; n {
		case 0:
		case 1:
			parts = append(parts, "a "+k)
		default:
			plural := k + "s"
			if k == "reply" {
				plural = "replies"
			}
			parts = append(parts, strconv.Itoa(n)+" "+plural)
		}
	}
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
