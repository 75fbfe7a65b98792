// Package schedule reads recurring campaign schedules: a cron expression
// (standard 5 fields, or descriptors such as @weekly) evaluated on the wall
// clock of an IANA time zone.
//
// robfig/cron/v3 parses the expression; the firings are computed here,
// because robfig/cron v3.0.1 steps through local time with time.Add and
// time.Date and so gets daylight-saving transitions wrong: "30 2 * * *" in
// America/New_York has no firing at all on the spring-forward day, and
// "30 1 * * *" fires twice on the fall-back day.
//
// # Named times and how often the clock shows them
//
// A named time is a local date, hour and minute (second 0) accepted by all
// five fields of the expression. In a zone with transitions, the clock shows
// a named time once, twice (the clock was set back by Δ), or never (the clock
// was set forward by Δ and skipped it). Δ is the size of that transition:
// 1h in New York and Berlin, 30m on Lord Howe Island.
//
// A named time w is in cadence at a transition of size Δ when the expression
// also names w-Δ and w+Δ (full local date-times, so the day fields count
// too). In cadence, the schedule is a run of firings Δ apart around w and the
// intent is real elapsed time ("every hour", "every 15 minutes"); otherwise
// the intent is that wall time ("02:30 every day"). So "0 */2 * * *" is not
// in cadence at a 1h transition, but it is at a 2h one (Antarctica/Troll).
//
// The rule, which Next implements exactly:
//
//   - Shown once: w fires at that instant.
//   - Shown twice: w fires at its first showing. It fires at its second
//     showing too only in cadence, because there leaving it out would open a
//     2Δ hole in the middle of the run. "0 * * * *" in New York fires at
//     01:00 EDT and again at 01:00 EST, an hour apart in real time; "30 1 * *
//     *" and "0 1,2 * * *" (no firing at 00:00) fire once at 01:xx that day.
//   - Never shown: w fires once at the instant the clock jumps (the first
//     instant after the gap, which reads the end of the gap). In cadence it
//     does not fire, because the run continues without it: the firings at
//     w-Δ and w+Δ are Δ apart in real time. "30 2 * * *" fires at 03:00 EDT
//     on the New York spring-forward day; "0 * * * *" has no firing for 02:00
//     and goes from 01:00 EST to 03:00 EDT, one real hour.
//   - Named times that land on the same instant fire once ("0 2,3 * * *"
//     fires once at 03:00 EDT that day).
//
// So daily and weekly schedules fire once per named time, on the day they
// name (since 2000 no gap has ended on a later date than it began, except
// Samoa's and Tokelau's skipped 2011-12-30, where an every-day time is in
// cadence and does not fire),
// and hourly or every-N-minutes schedules keep a real-time cadence whenever
// their period divides Δ (all of "@hourly", "0 * * * *" and
// "*/15 * * * *" across 1h shifts; "*/15" and "0,30" across the 30m Lord
// Howe shifts). An hourly schedule at a fixed minute cannot keep a 60-minute
// real cadence across a 30-minute shift and stay on its minute; on Lord Howe
// it gets no second showing and one catch-up per skipped named time, like any
// wall-time schedule.
package schedule

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/rapport-dev/rapport/internal/outreach"
)

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// starBit is the bit robfig/cron sets in a field parsed from "*" or "?"; it
// decides whether day-of-month and day-of-week combine with AND or OR.
const starBit = 1 << 63

// searchYears bounds the search for the next named time. The rarest
// satisfiable expression names February 29, which can be 8 years apart
// (2096 to 2104); an expression with no match in that window never fires.
const searchYears = 9

// maxPeriods bounds how many zone periods (stretches between two
// transitions) Next walks through; even a zone with four transitions a year
// stays far below it within searchYears.
const maxPeriods = 200

// Schedule yields a recurring campaign's firings. The zero Schedule never
// fires.
type Schedule struct {
	expr string
	loc  *time.Location
	// The parsed fields: bit n of a field is set when the field accepts n.
	// The seconds field is always {0}, since the parser has none.
	minute, hour, dom, month, dow uint64
}

// Parse checks the expression and zone. The error carries the parser's
// message so the caller sees what is wrong with the expression. An empty
// zone means UTC; a TZ= or CRON_TZ= prefix in the expression overrides the
// zone, as robfig/cron always did.
func Parse(expr, zone string) (Schedule, error) {
	loc := time.UTC
	if zone != "" {
		l, ok := outreach.LoadZone(zone)
		if !ok {
			return Schedule{}, fmt.Errorf("unknown time zone %q", zone)
		}
		loc = l
	}
	if len(expr) > 0 && expr[0] == '@' && len(expr) > 6 && expr[:6] == "@every" {
		return Schedule{}, errEvery()
	}
	s, err := parser.Parse(expr)
	if err != nil {
		return Schedule{}, err
	}
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		// Only "@every" parses to something else; it reaches here behind a
		// TZ= prefix.
		return Schedule{}, errEvery()
	}
	if spec.Location != time.Local {
		loc = spec.Location
	}
	return Schedule{
		expr:   expr,
		loc:    loc,
		minute: spec.Minute,
		hour:   spec.Hour,
		dom:    spec.Dom,
		month:  spec.Month,
		dow:    spec.Dow,
	}, nil
}

func errEvery() error {
	return fmt.Errorf("@every is not supported: use a calendar expression such as \"0 9 * * MON\"")
}

// Next is the first firing strictly after t, in UTC, under the rule in the
// package comment; the zero time if there is none. Calling Next again from
// its result enumerates every firing exactly once, in order.
func (s Schedule) Next(t time.Time) time.Time {
	if s.loc == nil {
		return time.Time{}
	}
	// Walk the zone's periods of constant offset from the one holding t. A
	// period [start, end) with offset off shows the wall times
	// [start+off, end+off), in order; the only firings that are not plain
	// showings are the catch-up at the start of a period entered by a
	// forward jump, and the second showings at the start of a period entered
	// by a backward jump. So the first firing found is the next one.
	cur := t
	for i := 0; i < maxPeriods; i++ {
		lt := cur.In(s.loc)
		start, end := lt.ZoneBounds()
		_, o := lt.Zone()
		off := time.Duration(o) * time.Second
		var delta time.Duration // prev offset - off: > 0 after a backward jump, < 0 after a forward one
		if !start.IsZero() {
			_, p := start.Add(-time.Nanosecond).In(s.loc).Zone()
			delta = time.Duration(p)*time.Second - off
		}

		var after time.Time // wall clock: search strictly after this
		if i == 0 {
			after = wall(t, off)
		} else {
			// cur is start, a transition after t.
			if delta < 0 && s.catchUp(wall(start, off+delta), wall(start, off), -delta) {
				return start.UTC()
			}
			after = wall(start, off).Add(-time.Nanosecond)
		}
		// After a backward jump the period opens with a second showing of
		// [start+off, start+off+delta).
		var repeatEnd time.Time
		if delta > 0 {
			repeatEnd = wall(start, off+delta)
		}
		var endWall time.Time
		if !end.IsZero() {
			endWall = wall(end, off)
		}
		for {
			w := s.nextNamed(after)
			if w.IsZero() {
				return time.Time{}
			}
			if !endWall.IsZero() && !w.Before(endWall) {
				break
			}
			if w.Before(repeatEnd) && !s.inCadence(w, delta) {
				after = w
				continue
			}
			return w.Add(-off)
		}
		cur = end
	}
	return time.Time{}
}

// wall is the reading of a clock at offset off at instant t, as a UTC time,
// so that wall-clock arithmetic has no transitions to trip on.
func wall(t time.Time, off time.Duration) time.Time {
	return t.UTC().Add(off)
}

// catchUp reports whether the gap [from, to) of a forward jump by delta
// holds a named time not in cadence, which then fires when the clock jumps.
func (s Schedule) catchUp(from, to time.Time, delta time.Duration) bool {
	for w := s.nextNamed(from.Add(-time.Nanosecond)); !w.IsZero() && w.Before(to); w = s.nextNamed(w) {
		if !s.inCadence(w, delta) {
			return true
		}
	}
	return false
}

// inCadence reports whether the named time w sits inside a run of firings
// delta apart: the expression names w-delta and w+delta too.
func (s Schedule) inCadence(w time.Time, delta time.Duration) bool {
	return s.names(w.Add(-delta)) && s.names(w.Add(delta))
}

// names reports whether the wall time w is a named time.
func (s Schedule) names(w time.Time) bool {
	if w.Second() != 0 || w.Nanosecond() != 0 {
		return false
	}
	y, m, d := w.Date()
	return has(s.month, uint(m)) && has(s.hour, uint(w.Hour())) && has(s.minute, uint(w.Minute())) && s.dayMatches(y, m, d)
}

// nextNamed is the first named time strictly after the wall time after (a
// UTC time), or the zero time if there is none within searchYears. It moves
// field by field (month, day, hour, minute) on the calendar, never through
// local time.
func (s Schedule) nextNamed(after time.Time) time.Time {
	t := after.Truncate(time.Minute).Add(time.Minute)
	y, m, d := t.Date()
	h, mi := uint(t.Hour()), uint(t.Minute())
	limit := y + searchYears
	for y <= limit {
		if nm, ok := nextBit(s.month, uint(m), 12); !ok {
			y, m, d, h, mi = y+1, time.January, 1, 0, 0
			continue
		} else if time.Month(nm) != m {
			m, d, h, mi = time.Month(nm), 1, 0, 0
		}
		if d > daysIn(y, m) {
			y, m, d, h, mi = nextMonth(y, m)
			continue
		}
		if !s.dayMatches(y, m, d) {
			d, h, mi = d+1, 0, 0
			continue
		}
		nh, ok := nextBit(s.hour, h, 23)
		if !ok {
			d, h, mi = d+1, 0, 0
			continue
		}
		if nh != h {
			h, mi = nh, 0
		}
		nmi, ok := nextBit(s.minute, mi, 59)
		if !ok {
			h, mi = h+1, 0
			continue
		}
		return time.Date(y, m, d, int(h), int(nmi), 0, 0, time.UTC)
	}
	return time.Time{}
}

// dayMatches applies robfig/cron's day rule: if either day field is "*",
// both must match; otherwise either may.
func (s Schedule) dayMatches(y int, m time.Month, d int) bool {
	domMatch := has(s.dom, uint(d))
	dowMatch := has(s.dow, uint(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday()))
	if s.dom&starBit != 0 || s.dow&starBit != 0 {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}

func has(field uint64, n uint) bool {
	return field&(1<<n) != 0
}

// nextBit is the lowest value >= from and <= max that the field accepts.
func nextBit(field uint64, from, max uint) (uint, bool) {
	if from > max {
		return 0, false
	}
	rest := (field &^ starBit) >> from << from
	if rest == 0 {
		return 0, false
	}
	n := uint(bits.TrailingZeros64(rest))
	return n, n <= max
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func nextMonth(y int, m time.Month) (int, time.Month, int, uint, uint) {
	if m == time.December {
		return y + 1, time.January, 1, 0, 0
	}
	return y, m + 1, 1, 0, 0
}
