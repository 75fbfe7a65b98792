package cadence

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// The property tests check the engine against brute force written from the
// definitions, not from the engine's interval formulation: a cap holds if
// no half-open interval of its length holds more than Max messages, counted
// directly.

var propertyZones = []string{"UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe"}

// dstDates are moments near the 2026 DST changes of propertyZones, where
// most window bugs would hide.
var dstDates = []time.Time{
	time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC),    // New York spring forward
	time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC),   // New York fall back
	time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),   // Berlin spring forward
	time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC),  // Berlin fall back
	time.Date(2026, 4, 4, 15, 0, 0, 0, time.UTC),   // Lord Howe fall back (half an hour)
	time.Date(2026, 10, 3, 15, 30, 0, 0, time.UTC), // Lord Howe spring forward
}

func loadZones(t testing.TB) []*time.Location {
	out := make([]*time.Location, len(propertyZones))
	for i, n := range propertyZones {
		out[i] = mustZone(t, n)
	}
	return out
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

func randRule(r *rand.Rand) outreach.Rule {
	var rule outreach.Rule
	for range 1 + r.IntN(3) {
		rule.Caps = append(rule.Caps, capOf(1+r.IntN(4), randDuration(r, time.Hour, 30*day)))
	}
	if r.IntN(2) == 0 {
		rule.MinGap = randDuration(r, time.Minute, 7*day)
	}
	switch r.IntN(4) {
	case 0:
		rule.SendWindow = outreach.AlwaysOpen
	default:
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
	}
	return rule
}

// randRequest builds a random request around a random clock, often near a
// DST change. Histories mix sent and reserved events before and after now,
// and sometimes place events exactly a cap window or gap apart.
func randRequest(r *rand.Rand, zones []*time.Location) Request {
	req := Request{Rule: randRule(r), Location: zones[r.IntN(len(zones))], Priority: r.IntN(101)}
	if r.IntN(3) == 0 {
		req.Now = dstDates[r.IntN(len(dstDates))].Add(randDuration(r, -3*day, 3*day))
	} else {
		req.Now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(randDuration(r, 0, 365*day))
	}
	n := r.IntN(9)
	for i := range n {
		e := Event{ID: int64(i + 1), Priority: r.IntN(101)}
		switch {
		case i > 0 && r.IntN(4) == 0:
			// Exactly a window or the gap away from an earlier event.
			w := time.Duration(req.Rule.Caps[r.IntN(len(req.Rule.Caps))].Window)
			if req.Rule.MinGap > 0 && r.IntN(2) == 0 {
				w = req.Rule.MinGap
			}
			if r.IntN(2) == 0 {
				w = -w
			}
			e.At = req.History[r.IntN(i)].At.Add(w)
		default:
			e.At = req.Now.Add(randDuration(r, -35*day, 35*day))
		}
		e.Reserved = e.At.After(req.Now) || r.IntN(5) == 0
		req.History = append(req.History, e)
	}
	if r.IntN(3) == 0 {
		req.NotBefore = req.Now.Add(randDuration(r, -day, 5*day))
	}
	if r.IntN(3) == 0 {
		req.ExpiresAt = req.start().Add(randDuration(r, -time.Hour, 20*day))
	}
	return req
}

// inWindow is the definition: the contact's wall clock is on an allowed day
// between Start and End.
func inWindow(w outreach.SendWindow, loc *time.Location, t time.Time) bool {
	lt := t.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	return w.Allows(lt.Weekday()) && m >= w.Start && m < w.End
}

// capsHold reports the first cap or min gap broken by adding c to history,
// looking only at intervals that contain c. The densest half-open interval
// [s, s+W) containing c starts at c or at an event in (c-W, c]; intervals
// ending at each event are checked as well for good measure.
func capsHold(rule outreach.Rule, history []time.Time, c time.Time) error {
	in := func(x, lo, hi time.Time, loIncl, hiIncl bool) bool {
		return (x.After(lo) || (loIncl && x.Equal(lo))) && (x.Before(hi) || (hiIncl && x.Equal(hi)))
	}
	count := func(lo, hi time.Time, loIncl, hiIncl bool) int {
		n := 0
		if in(c, lo, hi, loIncl, hiIncl) {
			n++
		}
		for _, x := range history {
			if in(x, lo, hi, loIncl, hiIncl) {
				n++
			}
		}
		return n
	}
	for _, cp := range rule.Caps {
		w := time.Duration(cp.Window)
		for i := -1; i < len(history); i++ {
			s := c
			if i >= 0 {
				s = history[i]
			}
			if !s.After(c) && s.Add(w).After(c) { // [s, s+w) contains c
				if n := count(s, s.Add(w), true, false); n > cp.Max {
					return lazyErr(func() string { return fmt.Sprintf("%s: %d messages in [%v, %v)", cp, n, s, s.Add(w)) })
				}
			}
			if !s.Before(c) && s.Add(-w).Before(c) { // (s-w, s] contains c
				if n := count(s.Add(-w), s, false, true); n > cp.Max {
					return lazyErr(func() string { return fmt.Sprintf("%s: %d messages in (%v, %v]", cp, n, s.Add(-w), s) })
				}
			}
		}
	}
	for _, h := range history {
		if d := c.Sub(h).Abs(); d < rule.MinGap {
			return lazyErr(func() string { return fmt.Sprintf("min_gap %v: %v and %v are %v apart", rule.MinGap, h, c, d) })
		}
	}
	return nil
}

// lazyErr formats its message only when read: validAt runs millions of
// times and almost always fails on purpose.
type lazyErr func() string

func (e lazyErr) Error() string { return e() }

func validAt(req Request, history []time.Time, c time.Time) error {
	loc := req.Location
	if loc == nil {
		loc = time.UTC
	}
	if !inWindow(req.Rule.SendWindow, loc, c) {
		return lazyErr(func() string { return fmt.Sprintf("outside %s at %v", req.Rule.SendWindow, c.In(loc)) })
	}
	return capsHold(req.Rule, history, c)
}

func times(events []Event) []time.Time {
	out := make([]time.Time, len(events))
	for i, e := range events {
		out[i] = e.At
	}
	return out
}

// candidates lists every moment in [from, to) at which a valid time could
// first appear: from itself, the end of every forbidden stretch any event
// can cause (event + window, event + gap), and every moment the window can
// open. The zones used have offsets and transitions on whole half hours of
// UTC, so the wall clock moves continuously within each UTC half hour; a
// window can only open at the start of one or where the wall clock reads
// Start inside one. Short ranges are also scanned minute by minute.
func candidates(req Request, from, to time.Time) []time.Time {
	var out []time.Time
	add := func(c time.Time) {
		if !c.Before(from) && c.Before(to) {
			out = append(out, c)
		}
	}
	add(from)
	for _, h := range req.History {
		for _, cp := range req.Rule.Caps {
			add(h.At.Add(time.Duration(cp.Window)))
		}
		add(h.At.Add(req.Rule.MinGap))
	}
	loc := req.Location
	const half = 30 * time.Minute
	for b := from.Truncate(half); b.Before(to); b = b.Add(half) {
		add(b)
		lt := b.In(loc)
		if m := lt.Hour()*60 + lt.Minute(); m < req.Rule.SendWindow.Start && req.Rule.SendWindow.Start < m+30 {
			add(b.Add(time.Duration(req.Rule.SendWindow.Start-m) * time.Minute))
		}
	}
	if to.Sub(from) < 2*day {
		for m := from.Truncate(time.Minute); m.Before(to); m = m.Add(time.Minute) {
			add(m)
		}
	}
	return out
}

// checkEarliest proves properties (a)-(e) for one request.
func checkEarliest(t testing.TB, req Request, rng *rand.Rand) {
	t.Helper()
	d := Earliest(req)
	start := req.start()
	hist := times(req.History)
	describe := func() string {
		return fmt.Sprintf("request %+v in %v\ndecision %+v", req, req.Location, d)
	}

	switch d.Reason {
	case outreach.ReasonExpired:
		mustTrue(t, d.At.IsZero(), "expired with At: %s", describe)
		mustTrue(t, !req.ExpiresAt.IsZero(), "expired without expiry: %s", describe)
		if !start.After(req.ExpiresAt) {
			mustTrue(t, d.Earliest.After(req.ExpiresAt), "expired before expiry: %s", describe)
			mustTrue(t, d.Rule != "", "expired without rule: %s", describe)
			// (d) nothing valid up to and including the expiry.
			for _, c := range append(candidates(req, start, req.ExpiresAt), req.ExpiresAt) {
				if validAt(req, hist, c) == nil {
					t.Fatalf("expired, but %v is valid: %s", c, describe())
				}
			}
		}
		return
	case outreach.ReasonScheduled:
		mustTrue(t, d.At.Equal(start), "scheduled but not at start %v: %s", start, describe)
		mustEq(t, "", d.Rule, describe)
	default:
		mustTrue(t, d.At.After(start), "deferred but not after start: %s", describe)
		mustTrue(t, d.Rule != "", "deferred without rule: %s", describe)
	}
	mustTrue(t, d.At.Equal(d.Earliest), "Earliest differs from At: %s", describe)
	mustTrue(t, req.ExpiresAt.IsZero() || !d.At.After(req.ExpiresAt), "past expiry: %s", describe)
	// (a), (b), (c) the decided moment keeps every cap, the gap and the window.
	if err := validAt(req, hist, d.At); err != nil {
		t.Fatalf("decided moment invalid: %v\n%s", err, describe())
	}
	// (d) no earlier candidate is valid.
	for _, c := range candidates(req, start, d.At) {
		if validAt(req, hist, c) == nil {
			t.Fatalf("%v is valid and earlier than %v: %s", c, d.At, describe())
		}
	}
	// Check agrees with the decision at the decided moment.
	cr := req
	cr.Now = d.At
	if ok, reason, rule := Check(cr); !ok {
		t.Fatalf("Check refuses the decided moment: %s %s\n%s", reason, rule, describe())
	}
	// (e) Decide: never before Earliest, still valid, not past expiry.
	spread := randDuration(rng, time.Second, 12*time.Hour)
	dd := Decide(req, rng, spread)
	mustEq(t, d.Reason, dd.Reason, describe)
	mustEq(t, d.Rule, dd.Rule, describe)
	mustTrue(t, dd.Earliest.Equal(d.Earliest), "Decide's Earliest differs: %+v\n%s", dd, describe)
	mustTrue(t, !dd.At.Before(d.Earliest), "Decide before Earliest: %+v\n%s", dd, describe)
	mustTrue(t, req.ExpiresAt.IsZero() || !dd.At.After(req.ExpiresAt), "Decide past expiry: %+v\n%s", dd, describe)
	if d.Reason == outreach.ReasonScheduled {
		mustTrue(t, dd.At.Equal(d.At), "scheduled message jittered: %+v\n%s", dd, describe)
	}
	if err := validAt(req, hist, dd.At); err != nil {
		t.Fatalf("Decide's moment invalid: %v\n%+v\n%s", err, dd, describe())
	}
}

func TestEarliestProperties(t *testing.T) {
	zones := loadZones(t)
	n := 3000
	if testing.Short() {
		n = 300
	}
	for seed := range uint64(n) {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		req := randRequest(r, zones)
		checkEarliest(t, req, r)
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}

func FuzzEarliest(f *testing.F) {
	zones := loadZones(f)
	for _, s := range [][2]uint64{{0, 0}, {1, 2}, {42, 7}, {1 << 40, 3}, {99, 12345}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b uint64) {
		r := rand.New(rand.NewPCG(a, b))
		checkEarliest(t, randRequest(r, zones), r)
	})
}

// validHistory draws a history that itself respects every cap and the min
// gap (as one produced by the engine would), so that Place's result can be
// checked as a whole.
func validHistory(r *rand.Rand, req Request) []Event {
	var out []Event
	for i := range 12 {
		at := req.Now.Add(randDuration(r, -30*day, 30*day))
		if capsHold(req.Rule, times(out), at) != nil {
			continue
		}
		reserved := at.After(req.Now) || r.IntN(4) == 0
		out = append(out, Event{ID: int64(i + 1), At: at, Priority: r.IntN(101), Reserved: reserved})
	}
	return out
}

// allCapsHold checks every cap and the min gap over a whole set.
func allCapsHold(rule outreach.Rule, set []time.Time) error {
	for i, c := range set {
		rest := slices.Delete(slices.Clone(set), i, i+1)
		if err := capsHold(rule, rest, c); err != nil {
			return err
		}
	}
	return nil
}

// TestPlaceProperties proves (f): the new message, the reservations kept and
// the displaced ones re-planned together keep every cap and gap; nothing
// displaced moves before now or before its old time, or past its expiry.
func TestPlaceProperties(t *testing.T) {
	zones := loadZones(t)
	n := 2000
	if testing.Short() {
		n = 200
	}
	displacedTotal, expiredTotal := 0, 0
	for seed := range uint64(n) {
		r := rand.New(rand.NewPCG(seed, 0x91ace))
		req := Request{Rule: randRule(r), Location: zones[r.IntN(len(zones))], Priority: r.IntN(101)}
		req.Now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(randDuration(r, 0, 365*day))
		req.History = validHistory(r, req)
		if r.IntN(3) == 0 {
			req.ExpiresAt = req.Now.Add(randDuration(r, 0, 20*day))
		}
		expiry := map[int64]time.Time{}
		byID := map[int64]Event{}
		for _, h := range req.History {
			byID[h.ID] = h
			if r.IntN(2) == 0 {
				expiry[h.ID] = h.At.Add(randDuration(r, 0, 15*day))
			}
		}
		spread := time.Duration(0)
		if r.IntN(2) == 0 {
			spread = randDuration(r, time.Second, 6*time.Hour)
		}
		d, disp := Place(req, expiry, r, spread)
		describe := fmt.Sprintf("seed %d: request %+v in %v\ndecision %+v\ndisplaced %+v", seed, req, req.Location, d, disp)

		full := Earliest(req)
		if full.Reason != outreach.ReasonExpired {
			mustTrue(t, d.Reason != outreach.ReasonExpired && !d.Earliest.After(full.Earliest), "Place did worse than Earliest: %s", describe)
		}
		moved := map[int64]bool{}
		var set []time.Time
		for _, x := range disp {
			h, ok := byID[x.ID]
			mustTrue(t, ok && h.Reserved && h.Priority < req.Priority, "displaced a message that may not be: %s", describe)
			mustTrue(t, !moved[x.ID], "displaced twice: %s", describe)
			moved[x.ID] = true
			displacedTotal++
			if x.Expired {
				expiredTotal++
				mustEq(t, outreach.ReasonPreempted, x.Reason, describe)
				mustTrue(t, x.At.IsZero(), describe)
				continue
			}
			mustTrue(t, !x.At.Before(req.Now) && !x.At.Before(h.At), "displaced moved earlier: %s", describe)
			if e, ok := expiry[x.ID]; ok {
				mustTrue(t, !x.At.After(e), "displaced past its expiry: %s", describe)
			}
			mustTrue(t, inWindow(req.Rule.SendWindow, req.Location, x.At), "displaced outside window: %s", describe)
			set = append(set, x.At)
		}
		if len(disp) > 0 {
			mustTrue(t, d.Reason != outreach.ReasonExpired, "displaced for an expired message: %s", describe)
		}
		for _, h := range req.History {
			if !moved[h.ID] {
				set = append(set, h.At)
			}
		}
		if d.Reason != outreach.ReasonExpired {
			mustTrue(t, !d.At.Before(req.Now), describe)
			mustTrue(t, inWindow(req.Rule.SendWindow, req.Location, d.At), "outside window: %s", describe)
			set = append(set, d.At)
		}
		if err := allCapsHold(req.Rule, set); err != nil {
			t.Fatalf("%v\n%s", err, describe)
		}
	}
	t.Logf("%d displaced, %d of them expired", displacedTotal, expiredTotal)
	mustTrue(t, displacedTotal > 0, "the generator never exercised displacement")
}
