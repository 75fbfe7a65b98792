package sendcheck_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones below must load on any machine

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// The tests use the standard library only, like the cadence package's.
//
// The rules are checked against definitions written here from the spec,
// never against the cadence package's interval formulation: a cap holds if
// no half-open interval of its length holds more than Max messages, counted
// directly; the window is judged on the contact's wall clock.

const day = 24 * time.Hour

// constSource is a rand.Source that always returns the same value. With
// math.MaxUint64 every Int64N(n) is n-1 (the largest jitter), with 1 it is
// 0 (none) for any n that is not a power of two; TestConstSources checks
// both, so that the exact expectations built on them stay honest.
type constSource uint64

func (s constSource) Uint64() uint64 { return uint64(s) }

// maxJitter and noJitter are deterministic extremes for Backoff's jitter.
func maxJitter() *rand.Rand { return rand.New(constSource(^uint64(0))) }
func noJitter() *rand.Rand  { return rand.New(constSource(1)) }

func TestConstSources(t *testing.T) {
	for _, n := range []int64{2, 3, 6e9 + 1, 36e10 + 1, 1<<40 + 7} {
		if got := maxJitter().Int64N(n); got != n-1 {
			t.Errorf("max source: Int64N(%d) = %d, want %d", n, got, n-1)
		}
		if got := noJitter().Int64N(n); got != 0 && n&(n-1) != 0 {
			t.Errorf("min source: Int64N(%d) = %d, want 0", n, got)
		}
	}
}

// newRand is the one way property tests make randomness: PCG from a seed
// pair, so a failure names a seed that replays it exactly.
func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

func capOf(max int, w time.Duration) outreach.Cap {
	return outreach.Cap{Max: max, Window: outreach.Duration(w)}
}

var weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// propertyZones have offsets east and west of UTC, half- and
// three-quarter-hour offsets, a half-hour DST change (Lord Howe) and none.
var propertyZones = []string{
	"UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Asia/Kolkata",
	"America/St_Johns", "Pacific/Chatham", "Australia/Lord_Howe",
}

func loadZones(t testing.TB) []*time.Location {
	out := make([]*time.Location, len(propertyZones))
	for i, n := range propertyZones {
		out[i] = mustZone(t, n)
	}
	return out
}

// dstDates are moments near 2026 DST changes of propertyZones.
var dstDates = []time.Time{
	time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC),    // New York spring forward
	time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC),   // New York fall back
	time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),   // Berlin spring forward
	time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC),  // Berlin fall back
	time.Date(2026, 4, 4, 15, 0, 0, 0, time.UTC),   // Lord Howe fall back (half an hour)
	time.Date(2026, 10, 3, 15, 30, 0, 0, time.UTC), // Lord Howe spring forward
	time.Date(2026, 4, 5, 14, 0, 0, 0, time.UTC),   // Chatham fall back
	time.Date(2026, 9, 27, 14, 0, 0, 0, time.UTC),  // Chatham spring forward
}

// randDuration is uniform in [lo, hi), in whole minutes most of the time and
// arbitrary nanoseconds sometimes.
func randDuration(r *rand.Rand, lo, hi time.Duration) time.Duration {
	d := lo + time.Duration(r.Int64N(int64(hi-lo)))
	if r.IntN(4) != 0 {
		d = d.Truncate(time.Minute)
	}
	return max(d, lo)
}

// randNow is a clock somewhere in 2026, often near a DST change.
func randNow(r *rand.Rand) time.Time {
	if r.IntN(3) == 0 {
		return dstDates[r.IntN(len(dstDates))].Add(randDuration(r, -3*day, 3*day))
	}
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(randDuration(r, 0, 365*day))
}

// randRule is a valid rule (what Tier.Validate accepts): one to three caps,
// sometimes a min gap, a window that is always open or has some days.
func randRule(r *rand.Rand) outreach.Rule {
	var rule outreach.Rule
	for range 1 + r.IntN(3) {
		rule.Caps = append(rule.Caps, capOf(1+r.IntN(4), randDuration(r, time.Hour, 30*day)))
	}
	if r.IntN(2) == 0 {
		rule.MinGap = randDuration(r, time.Minute, 7*day)
	}
	if r.IntN(4) == 0 {
		rule.SendWindow = outreach.AlwaysOpen
		return rule
	}
	var days []time.Weekday
	for d := time.Sunday; d <= time.Saturday; d++ {
		if r.IntN(2) == 0 {
			days = append(days, d)
		}
	}
	if len(days) == 0 {
		days = []time.Weekday{time.Weekday(r.IntN(7))}
	}
	start := r.IntN(24 * 60)
	length := 1 + r.IntN(24*60-start)
	if r.IntN(3) == 0 {
		length = min(length, 1+r.IntN(30)) // narrow windows
	}
	rule.SendWindow = outreach.SendWindow{Days: days, Start: start, End: start + length}
	return rule
}

// randEvents draws up to n events around now: most in the past, some
// exactly now, some exactly a cap window or the min gap away from an
// earlier one (or from now), where off-by-one bugs live. future allows
// events after now (reservations); reserved marks those after now.
func randEvents(r *rand.Rand, rule outreach.Rule, now time.Time, n int, future bool) []cadence.Event {
	var out []cadence.Event
	hi := time.Duration(1)
	if future {
		hi = 35 * day
	}
	for i := range r.IntN(n + 1) {
		e := cadence.Event{ID: int64(i + 1), Priority: r.IntN(101)}
		switch k := r.IntN(8); {
		case k == 0:
			e.At = now
		case k <= 2:
			w := time.Duration(rule.Caps[r.IntN(len(rule.Caps))].Window)
			if rule.MinGap > 0 && r.IntN(2) == 0 {
				w = rule.MinGap
			}
			from := now
			if len(out) > 0 && r.IntN(2) == 0 {
				from = out[r.IntN(len(out))].At
			}
			e.At = from.Add(-w)
			if future && r.IntN(2) == 0 {
				e.At = from.Add(w)
			}
		default:
			e.At = now.Add(randDuration(r, -35*day, hi))
		}
		if !future && e.At.After(now) {
			e.At = now
		}
		e.Reserved = e.At.After(now)
		out = append(out, e)
	}
	return out
}

func eventTimes(events []cadence.Event) []time.Time {
	out := make([]time.Time, len(events))
	for i, e := range events {
		out[i] = e.At
	}
	return out
}

// inWindow is the definition of the send window: on the contact's wall
// clock, an allowed weekday and a minute of the day in [Start, End). The
// zero window is "no restriction", as cadence.Request documents.
func inWindow(w outreach.SendWindow, loc *time.Location, t time.Time) bool {
	if len(w.Days) == 0 && w.Start == 0 && w.End == 0 {
		return true
	}
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	return w.Allows(lt.Weekday()) && m >= w.Start && m < w.End
}

// violation is one rule a new message at some moment would break.
type violation struct {
	reason outreach.Reason // deferred_cap, deferred_min_gap or deferred_send_window
	what   func() string   // formatted only when a failure prints it
}

func (v violation) String() string { return string(v.reason) + ": " + v.what() }

// violations lists every cap, min gap and window rule that a new marketing
// message at c breaks, given the messages in history, by brute force.
//
// A cap (M, W) is broken when some half-open interval [s, s+W) holds c and
// more than M messages in all. It is enough to try s = c and s = every
// message in (c-W, c]: any interval holding c can slide right until its
// start meets the first message (or c) in it, losing none of them.
func violations(rule outreach.Rule, loc *time.Location, history []time.Time, c time.Time) []violation {
	var out []violation
	for _, cp := range rule.Caps {
		w := time.Duration(cp.Window)
		starts := []time.Time{c}
		for _, h := range history {
			if !h.After(c) && h.After(c.Add(-w)) {
				starts = append(starts, h)
			}
		}
		for _, s := range starts {
			n := 1 // c itself
			for _, h := range history {
				if !h.Before(s) && h.Before(s.Add(w)) {
					n++
				}
			}
			if n > cp.Max {
				out = append(out, violation{outreach.ReasonDeferredCap, func() string { return fmt.Sprintf("%s: %d messages in [%v, %v)", cp, n, s, s.Add(w)) }})
				break
			}
		}
	}
	if rule.MinGap > 0 {
		for _, h := range history {
			if d := c.Sub(h).Abs(); d < rule.MinGap {
				out = append(out, violation{outreach.ReasonDeferredMinGap, func() string { return fmt.Sprintf("min_gap %v: %v is %v from %v", rule.MinGap, c, d, h) }})
				break
			}
		}
	}
	if !inWindow(rule.SendWindow, loc, c) {
		l := loc
		if l == nil {
			l = time.UTC
		}
		out = append(out, violation{outreach.ReasonDeferredSendWindow, func() string { return fmt.Sprintf("%s: %v is outside", rule.SendWindow, c.In(l)) }})
	}
	return out
}

// validAt reports whether a new marketing message at c keeps every rule:
// violations without the descriptions, cheapest test first, for scans.
func validAt(rule outreach.Rule, loc *time.Location, history []time.Time, c time.Time) bool {
	if !inWindow(rule.SendWindow, loc, c) {
		return false
	}
	for _, h := range history {
		if c.Sub(h).Abs() < rule.MinGap {
			return false
		}
	}
	for _, cp := range rule.Caps {
		w := time.Duration(cp.Window)
		if n := countIn(history, c, c.Add(w)); n+1 > cp.Max {
			return false
		}
		for _, s := range history {
			if !s.After(c) && s.After(c.Add(-w)) && countIn(history, s, s.Add(w))+1 > cp.Max {
				return false
			}
		}
	}
	return true
}

// countIn counts the messages in [lo, hi).
func countIn(history []time.Time, lo, hi time.Time) int {
	n := 0
	for _, h := range history {
		if !h.Before(lo) && h.Before(hi) {
			n++
		}
	}
	return n
}

// TestValidAtAgreesWithViolations keeps the two brute-force checkers equal.
func TestValidAtAgreesWithViolations(t *testing.T) {
	zones := loadZones(t)
	for seed := range uint64(2000) {
		r := newRand(seed, 0xc4ec)
		rule, now := randRule(r), randNow(r)
		loc := zones[r.IntN(len(zones))]
		hist := eventTimes(randEvents(r, rule, now, 8, true))
		c := now.Add(randDuration(r, -day, 3*day))
		if v := violations(rule, loc, hist, c); validAt(rule, loc, hist, c) != (len(v) == 0) {
			t.Fatalf("seed %d: validAt = %v, violations %v", seed, validAt(rule, loc, hist, c), v)
		}
	}
}

// hasReason reports whether one of vs is of reason r.
func hasReason(vs []violation, r outreach.Reason) bool {
	for _, v := range vs {
		if v.reason == r {
			return true
		}
	}
	return false
}

// rulePrefix is how a rule string of each deferral reason begins.
var rulePrefix = map[outreach.Reason]string{
	outreach.ReasonDeferredCap:        "cap ",
	outreach.ReasonDeferredMinGap:     "min_gap ",
	outreach.ReasonDeferredSendWindow: "send_window ",
}

// ruleMatches reports whether rule names a constraint of kind reason.
func ruleMatches(reason outreach.Reason, rule string) bool {
	p, ok := rulePrefix[reason]
	return ok && strings.HasPrefix(rule, p)
}

// candidates lists, for [from, to], every moment at which the earliest
// valid moment of that range could lie: from, to, the end of every stretch
// a cap or the gap forbids (a message + a window, + the gap), and, when the
// range is short enough to scan, every whole minute. Forbidden cap and gap
// stretches are open intervals ending at a message + a window or the gap,
// and the window opens on a whole minute of UTC (all propertyZones have
// whole-minute offsets in 2026), so the earliest valid moment of the range,
// if any, is one of these. Long ranges get the sparse candidates only, plus
// each local day's opening.
func candidates(rule outreach.Rule, loc *time.Location, history []time.Time, from, to time.Time, scan time.Duration) []time.Time {
	if loc == nil {
		loc = time.UTC
	}
	var out []time.Time
	add := func(c time.Time) {
		if !c.Before(from) && !c.After(to) {
			out = append(out, c)
		}
	}
	add(from)
	add(to)
	for _, h := range history {
		for _, cp := range rule.Caps {
			add(h.Add(time.Duration(cp.Window)))
		}
		if rule.MinGap > 0 {
			add(h.Add(rule.MinGap))
		}
	}
	if to.Sub(from) <= scan {
		for m := from.Truncate(time.Minute); !m.After(to); m = m.Add(time.Minute) {
			add(m)
		}
		return out
	}
	lf := from.In(loc)
	for d := -1; ; d++ {
		o := time.Date(lf.Year(), lf.Month(), lf.Day()+d, rule.SendWindow.Start/60, rule.SendWindow.Start%60, 0, 0, loc)
		if o.After(to.Add(day)) {
			break
		}
		add(o)
	}
	return out
}
