package cadence

import (
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// minutesPerDay is the wall-clock length of a day; a window End of 1440 means
// "until midnight".
const minutesPerDay = 24 * 60

// window is a send window prepared for many checks: the weekdays as a bit
// set and the zone resolved, so that the hot path (is this instant inside?)
// costs one time conversion and no allocation.
type window struct {
	days       uint8 // bit d set: weekday d allowed
	start, end int   // minutes after local midnight, end exclusive
	loc        *time.Location
	always     bool // never closes: skip all zone arithmetic
	never      bool // can never open (no days, or start >= end)
}

// newWindow prepares w in loc. A zero SendWindow (no days, 00:00-00:00) means
// "no restriction": callers that have no window to enforce need not invent
// one. Any other window with no days or an empty time range never opens, so
// that a broken rule defers into expiry instead of mailing at night.
func newWindow(w outreach.SendWindow, loc *time.Location) window {
	if loc == nil {
		loc = time.UTC
	}
	out := window{start: w.Start, end: w.End, loc: loc}
	for _, d := range w.Days {
		if d >= time.Sunday && d <= time.Saturday {
			out.days |= 1 << uint(d)
		}
	}
	if len(w.Days) == 0 && w.Start == 0 && w.End == 0 {
		out.always = true
		return out
	}
	out.start = max(out.start, 0)
	out.end = min(out.end, minutesPerDay)
	switch {
	case out.days == 0 || out.start >= out.end:
		out.never = true
	case out.days == 0x7f && out.start == 0 && out.end == minutesPerDay:
		out.always = true
	}
	return out
}

// contains reports whether t is inside the window on the contact's wall
// clock. Judging by the wall clock is what makes DST right without special
// cases: in a repeated fall-back hour both instants with an inside wall time
// are inside, and wall times skipped by spring-forward simply never occur.
func (w *window) contains(t time.Time) bool {
	if w.always {
		return true
	}
	if w.never {
		return false
	}
	lt := t.In(w.loc)
	if w.days&(1<<uint(lt.Weekday())) == 0 {
		return false
	}
	h, m, _ := lt.Clock()
	mm := h*60 + m
	return mm >= w.start && mm < w.end
}

// searchDays bounds one search for the next opening: from the local day
// before t (zones that fall back over midnight revisit the previous date) to
// eight days after, which holds every weekday at least once after t's date.
const (
	searchFirstDay = -1
	searchLastDay  = 8
	searchRounds   = 4 // a window swallowed by a DST gap on its only day needs one more week
	// nearTransition is how far from a day's Start instant a zone transition
	// can still create or repeat that day's opening: more than any real
	// offset change plus a whole day.
	nearTransition = 50 * time.Hour
)

// next returns the first instant >= t inside the window, or false when the
// window does not open within the bounded search (it never opens).
//
// The first inside instant after an outside one is either an instant whose
// wall clock reads Start on an allowed day (at most three per date: the
// normal one, or two in a repeated hour), or a zone transition that jumps
// the wall clock into the window (the first instant after a spring-forward
// gap that swallowed Start). Those are the only candidates examined.
func (w *window) next(t time.Time) (time.Time, bool) {
	if w.contains(t) {
		return t, true
	}
	if w.never {
		return time.Time{}, false
	}
	from := t
	for range searchRounds {
		lt := from.In(w.loc)
		y, mo, d := lt.Date()
		var best time.Time
		found := false
		consider := func(c time.Time) {
			if c.IsZero() || c.Before(t) || (found && !c.Before(best)) || !w.contains(c) {
				return
			}
			best, found = c, true
		}
		// Any instant on local date D is at least D 00:00 minus the largest
		// offset swing after the Start instant of D; 26h covers every zone.
		margin := time.Duration(w.start)*time.Minute + 26*time.Hour
		for i := searchFirstDay; i <= searchLastDay; i++ {
			// The weekday of the calendar date itself: a may have been moved
			// off its date by a gap, but the date decides whether it counts.
			if w.days&(1<<uint(time.Date(y, mo, d+i, 12, 0, 0, 0, time.UTC).Weekday())) == 0 {
				continue
			}
			a := time.Date(y, mo, d+i, w.start/60, w.start%60, 0, 0, w.loc)
			if found && a.Add(-margin).After(best) {
				break
			}
			consider(a)
			// Transitions matter only near a (offset swings are hours, not
			// days); skipping far ones keeps the usual search cheap.
			_, off := a.Zone()
			zs, ze := a.ZoneBounds()
			if !zs.IsZero() && a.Sub(zs) < nearTransition {
				consider(zs)
				_, prev := zs.Add(-time.Nanosecond).Zone()
				consider(a.Add(time.Duration(off-prev) * time.Second))
			}
			if !ze.IsZero() && ze.Sub(a) < nearTransition {
				consider(ze)
				_, nxt := ze.Zone()
				consider(a.Add(time.Duration(off-nxt) * time.Second))
			}
		}
		if found {
			return best, true
		}
		from = time.Date(y, mo, d+searchLastDay, 0, 0, 0, 0, w.loc)
	}
	return time.Time{}, false
}

// dayOrder is the order rules list their days in: Monday first.
var dayOrder = [7]time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

// ruleString is w.String() (the rule as outreach names it) followed by the
// zone, built in one allocation: the planner names a window rule for every
// message deferred to the next morning, and outreach's formatting allocates
// a dozen times. TestWindowRuleStringMatchesOutreach keeps the two equal.
func (w *window) ruleString(sw outreach.SendWindow) string {
	var buf [96]byte
	b := append(buf[:0], "send_window "...)
	var seen uint8
	for _, d := range sw.Days {
		if d < time.Sunday || d > time.Saturday {
			return sw.String() + " " + w.loc.String() // not a day: let outreach say so
		}
		seen |= 1 << uint(d)
	}
	first := true
	for _, d := range dayOrder {
		if seen&(1<<uint(d)) == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, outreach.DayName(d)...)
	}
	b = append(b, ' ')
	b = appendClock(b, sw.Start)
	b = append(b, '-')
	b = appendClock(b, sw.End)
	b = append(b, ' ')
	b = append(b, w.loc.String()...)
	return string(b)
}

// appendClock is outreach.FormatClock without fmt.
func appendClock(b []byte, min int) []byte {
	if min < 0 || min >= 100*60 {
		return append(b, outreach.FormatClock(min)...)
	}
	h, m := min/60, min%60
	b = append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10))
	return b
}
