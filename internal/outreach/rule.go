package outreach

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Cap is one rolling frequency cap: in any interval of length Window at most
// Max marketing messages. An interval is half-open, so two messages exactly
// Window apart do not share one.
type Cap struct {
	Max    int      `json:"max"`
	Window Duration `json:"window"`
}

// String names the cap the way rules are reported in decisions: "cap 3/7d".
func (c Cap) String() string { return fmt.Sprintf("cap %d/%s", c.Max, c.Window) }

// SendWindow is when marketing messages may go out, on the contact's local
// wall clock: the listed weekdays, from Start (inclusive) to End (exclusive),
// as minutes after local midnight. End may be 24*60 for "until midnight".
type SendWindow struct {
	Days  []time.Weekday
	Start int
	End   int
}

// AlwaysOpen is a send window that never closes.
var AlwaysOpen = SendWindow{Days: AllDays(), Start: 0, End: 24 * 60}

// AllDays lists every weekday, Sunday first.
func AllDays() []time.Weekday {
	return []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
}

// Allows reports whether the weekday is one of the window's days.
func (w SendWindow) Allows(d time.Weekday) bool {
	for _, x := range w.Days {
		if x == d {
			return true
		}
	}
	return false
}

// IsAlwaysOpen reports whether the window never closes.
func (w SendWindow) IsAlwaysOpen() bool {
	return w.Start == 0 && w.End >= 24*60 && len(dedupDays(w.Days)) == 7
}

// String describes the window for decisions and logs: "send_window mon-fri 09:00-20:00".
func (w SendWindow) String() string {
	names := make([]string, 0, len(w.Days))
	for _, d := range dedupDays(w.Days) {
		names = append(names, dayNames[d])
	}
	return fmt.Sprintf("send_window %s %s-%s", strings.Join(names, ","), FormatClock(w.Start), FormatClock(w.End))
}

func dedupDays(days []time.Weekday) []time.Weekday {
	seen := map[time.Weekday]bool{}
	out := make([]time.Weekday, 0, len(days))
	for _, d := range days {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return (out[i]+6)%7 < (out[j]+6)%7 })
	return out
}

var dayNames = map[time.Weekday]string{
	time.Monday: "mon", time.Tuesday: "tue", time.Wednesday: "wed", time.Thursday: "thu",
	time.Friday: "fri", time.Saturday: "sat", time.Sunday: "sun",
}

// DayName is the API's three-letter name of a weekday ("mon").
func DayName(d time.Weekday) string { return dayNames[d] }

// ParseDay reads a three-letter weekday name ("mon", case-insensitive).
func ParseDay(s string) (time.Weekday, error) {
	for d, n := range dayNames {
		if strings.EqualFold(n, strings.TrimSpace(s)) {
			return d, nil
		}
	}
	return 0, fmt.Errorf("unknown day %q (use mon, tue, wed, thu, fri, sat, sun)", s)
}

// ParseClock reads "HH:MM" (00:00–24:00) into minutes after midnight.
func ParseClock(s string) (int, error) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("invalid time %q: use HH:MM, such as 09:00", s)
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil {
		return 0, fmt.Errorf("invalid time %q: use HH:MM, such as 09:00", s)
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("invalid time %q: hours 00–24, minutes 00–59", s)
	}
	return h*60 + m, nil
}

// FormatClock writes minutes after midnight as "HH:MM".
func FormatClock(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

// Rule is a tier's cadence rule. All caps hold together; MinGap is the least
// time between two marketing messages; TargetInterval, when set, is how often
// the relationship expects to hear from us at least.
type Rule struct {
	Caps           []Cap
	MinGap         time.Duration
	TargetInterval time.Duration
	SendWindow     SendWindow
}

// Validate reports every problem with the rule as field errors.
func (r Rule) Validate() []FieldError {
	var errs []FieldError
	if len(r.Caps) == 0 {
		errs = append(errs, FieldError{Field: "caps", Message: "at least one cap is required"})
	}
	for i, c := range r.Caps {
		if c.Max < 1 {
			errs = append(errs, FieldError{Field: fmt.Sprintf("caps[%d].max", i), Message: "must be at least 1"})
		}
		if time.Duration(c.Window) <= 0 {
			errs = append(errs, FieldError{Field: fmt.Sprintf("caps[%d].window", i), Message: "must be a positive duration such as \"7d\""})
		}
		if time.Duration(c.Window) > 366*24*time.Hour {
			errs = append(errs, FieldError{Field: fmt.Sprintf("caps[%d].window", i), Message: "must be at most 366d"})
		}
	}
	if r.MinGap < 0 || r.MinGap > 366*24*time.Hour {
		errs = append(errs, FieldError{Field: "min_gap", Message: "must be between 0 and 366d"})
	}
	if r.TargetInterval < 0 {
		errs = append(errs, FieldError{Field: "target_interval", Message: "must not be negative"})
	}
	w := r.SendWindow
	if len(w.Days) == 0 {
		errs = append(errs, FieldError{Field: "send_window.days", Message: "at least one day is required"})
	}
	if w.Start < 0 || w.End > 24*60 || w.Start >= w.End {
		errs = append(errs, FieldError{Field: "send_window", Message: "start must be before end on the same day (e.g. 09:00–20:00)"})
	}
	return errs
}

// LongestWindow is the largest of the rule's cap windows and its min gap:
// history older than this can no longer affect a decision.
func (r Rule) LongestWindow() time.Duration {
	longest := r.MinGap
	for _, c := range r.Caps {
		if time.Duration(c.Window) > longest {
			longest = time.Duration(c.Window)
		}
	}
	return longest
}

// Stricter returns the stricter of two tiers for a contact: the one with the
// lower rank. A customer can always ask for less, never for more.
func Stricter(assigned Tier, preferred *Tier) Tier {
	if preferred != nil && preferred.Rank < assigned.Rank {
		return *preferred
	}
	return assigned
}

// EffectiveTier is the tier in force for a contact whose assigned tier is
// the key assigned and whose preferred tier (their own choice in the
// preference center, "" for none) is preferred, looked up in tiers by key.
// It is the one rule the planner, the send-time check, the console, the
// preference center and insight attribution all use, so that what is shown
// and counted is what is sent:
//
//   - both known: the stricter of the two (Stricter: the lower rank; equal
//     ranks keep the assigned), since a customer can ask for less mail,
//     never for more;
//   - preferred "" or not in tiers: the assigned tier; a choice that names
//     no tier asks for nothing;
//   - assigned not in tiers (whatever the preferred): no tier applies, and
//     the result is false with a zero Tier. The assigned tier is the
//     ceiling a preference can only lower; without it there is nothing to
//     lower from, and a preference alone must not decide what is sent.
//     This happens only transiently (contacts.tier has a foreign key to
//     tiers): a tier list read before a new tier was created and assigned.
func EffectiveTier(tiers map[string]Tier, assigned, preferred string) (Tier, bool) {
	a, ok := tiers[assigned]
	if !ok {
		return Tier{}, false
	}
	if p, ok := tiers[preferred]; ok {
		return Stricter(a, &p), true
	}
	return a, true
}

// WithinRetention reports, as field errors, every window of the rule (its
// caps, min gap and target interval) that reaches further back than
// deliveries are kept (DELIVERY_RETENTION): the cadence would then decide
// on a history retention has already cut short. A zero retention checks
// nothing.
func (r Rule) WithinRetention(retention time.Duration) []FieldError {
	if retention <= 0 {
		return nil
	}
	msg := "must not be longer than the deliveries' retention (DELIVERY_RETENTION, " + FormatDuration(retention) + ")"
	var errs []FieldError
	for i, c := range r.Caps {
		if time.Duration(c.Window) > retention {
			errs = append(errs, FieldError{Field: fmt.Sprintf("caps[%d].window", i), Message: msg})
		}
	}
	if r.MinGap > retention {
		errs = append(errs, FieldError{Field: "min_gap", Message: msg})
	}
	if r.TargetInterval > retention {
		errs = append(errs, FieldError{Field: "target_interval", Message: msg})
	}
	return errs
}
