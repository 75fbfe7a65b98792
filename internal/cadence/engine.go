// Package cadence is rapport's decision engine: given a contact's cadence
// rule, the marketing messages already sent or reserved for them, and a
// clock, it says when the next message may go out and which rule decided it.
//
// It is pure on purpose. No database, no I/O, no global state: the planner
// calls it about a million times per campaign run, the send-time check calls
// it under a lock on the contact, and the forecast calls it without writing
// anything. The clock and the randomness used for spreading deferrals are
// passed in, so every decision can be replayed exactly in a test.
//
// The rules, all enforced together:
//   - caps are rolling: in any half-open interval [s, s+W) at most Max
//     messages, so two messages exactly W apart never share an interval;
//   - min_gap: no two messages closer than the gap (exactly the gap is fine);
//   - the send window is judged on the contact's local wall clock.
//
// A new message at t breaks cap (M, W) exactly when M existing messages
// h[i] <= ... <= h[i+M-1] spanning less than W lie in some interval of
// length W together with t, i.e. when t lies in the open interval
// (h[i+M-1]-W, h[i]+W). min_gap is the cap (1, gap). The engine therefore
// turns the history into forbidden open intervals once and sweeps forward
// through them and the window's openings; only intervals that contain the
// new message matter, so violations among old messages never block it.
package cadence

import (
	"slices"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// Event is one marketing delivery that counts against caps: sent (At is the
// sent time) or reserved (scheduled; At is planned_for). Reserved ones count
// because a planned message will be sent, and counting it only then would
// let two campaigns plan into the same slot.
type Event struct {
	ID       int64
	At       time.Time
	Priority int
	Reserved bool
}

// Request is everything one decision depends on.
type Request struct {
	Rule      outreach.Rule
	Location  *time.Location // the contact's zone (the caller resolves the default); nil means UTC
	History   []Event        // sent and reserved marketing messages, any order, without the one being decided
	Now       time.Time
	NotBefore time.Time // earliest moment allowed (the campaign's send_at); zero means Now
	ExpiresAt time.Time // zero means never; a slot after it means ReasonExpired
	Priority  int       // the new message's priority (0-100), used by Place
}

// Decision is the engine's answer for one message.
type Decision struct {
	// At is when to send: Earliest, moved forward by jitter when deferred.
	// Zero when the message expired.
	At time.Time
	// Earliest is the earliest valid moment, before jitter. When the message
	// expired it is the moment it would have needed (zero if none was found),
	// so an explanation can say "next slot would have been ...".
	Earliest time.Time
	// Reason is ReasonScheduled (can go at the requested start),
	// ReasonDeferredCap, ReasonDeferredMinGap, ReasonDeferredSendWindow or
	// ReasonExpired.
	Reason outreach.Reason
	// Rule names the constraint that made the last forward move (the binding
	// one), e.g. "cap 3/7d", "min_gap 14d" or
	// "send_window mon,tue 09:00-20:00 Europe/Berlin". Empty when scheduled.
	Rule string
}

// Deferred reports whether the message waits for a later slot (and was not
// dropped): the case in which a planner spreads it with jitter.
func (d Decision) Deferred() bool {
	return d.Reason != outreach.ReasonScheduled && d.Reason != outreach.ReasonExpired
}

// constraint kinds, kept as small integers during the sweep so that the rule
// string is only formatted once, for the final answer.
const (
	kindNone uint8 = iota
	kindCap
	kindGap
	kindWindow
)

type binding struct {
	kind uint8
	cap  int // index into Rule.Caps when kind == kindCap
}

// interval is one forbidden open interval (lo, hi) and the rule behind it.
type interval struct {
	lo, hi time.Time
	by     binding
}

// engine is a request prepared for sweeping: forbidden intervals sorted by
// their start, and the window resolved. Decide and Place sweep the same
// engine several times (jitter, re-validation), so preparing once pays off.
//
// The window lives behind a pointer on purpose: the zone pointer inside it
// flows into the time package, and escape analysis does not tell struct
// fields apart, so keeping it one indirection away lets the interval buffer
// stay on the caller's stack.
type engine struct {
	rule   outreach.Rule
	win    *window
	iv     []interval
	never  binding // a cap with Max < 1 forbids every moment
	closed bool    // never is set
}

// inlineEvents is how many history times and intervals fit without a heap
// allocation; planner histories are pruned to the longest window and are
// almost always this small.
const inlineEvents = 8

// prepare builds the forbidden intervals of history that end after from;
// intervals ending earlier cannot affect any moment the sweep looks at.
// win is the prepared window of rule; ivBuf and hBuf are caller-provided
// storage so the common case allocates nothing.
func prepare(rule outreach.Rule, win *window, history []Event, from time.Time, ivBuf []interval, hBuf []time.Time) engine {
	e := engine{rule: rule, win: win, iv: ivBuf[:0]}
	hs := hBuf[:0]
	for _, h := range history {
		hs = append(hs, h.At)
	}
	sortTimes(hs)
	for ci, c := range rule.Caps {
		w := time.Duration(c.Window)
		if w <= 0 {
			continue // no interval of non-positive length can hold two messages
		}
		if c.Max < 1 {
			e.never, e.closed = binding{kind: kindCap, cap: ci}, true
			continue
		}
		for i := 0; i+c.Max-1 < len(hs); i++ {
			first, last := hs[i], hs[i+c.Max-1]
			if last.Sub(first) >= w {
				continue // these M messages never share an interval of length w
			}
			if hi := first.Add(w); hi.After(from) {
				e.iv = append(e.iv, interval{lo: last.Add(-w), hi: hi, by: binding{kind: kindCap, cap: ci}})
			}
		}
	}
	if g := rule.MinGap; g > 0 {
		for _, h := range hs {
			if hi := h.Add(g); hi.After(from) {
				e.iv = append(e.iv, interval{lo: h.Add(-g), hi: hi, by: binding{kind: kindGap}})
			}
		}
	}
	sortIntervals(e.iv)
	return e
}

// sweep returns the earliest moment >= start that lies in no forbidden
// interval and inside the window, with the constraint of the last forward
// move. ok is false when that moment is after expires (non-zero) or does not
// exist; t is then the moment found, or zero.
//
// Intervals are sorted by start, so one pass suffices: an interval starting
// at or after t leaves t free (together with all later ones), and t only
// grows, so an interval once passed can never contain t again. Each round
// either consumes an interval or ends, which bounds the loop.
func (e *engine) sweep(start, expires time.Time) (t time.Time, by binding, ok bool) {
	if e.closed {
		return time.Time{}, e.never, false
	}
	t = start
	i := 0
	for range len(e.iv) + 2 {
		for ; i < len(e.iv) && e.iv[i].lo.Before(t); i++ {
			if e.iv[i].hi.After(t) {
				t, by = e.iv[i].hi, e.iv[i].by
			}
		}
		if !expires.IsZero() && t.After(expires) {
			return t, by, false
		}
		if e.win.contains(t) {
			return t, by, true
		}
		nt, found := e.win.next(t)
		if !found {
			return time.Time{}, binding{kind: kindWindow}, false
		}
		t, by = nt, binding{kind: kindWindow}
		if !expires.IsZero() && t.After(expires) {
			return t, by, false
		}
		if i == len(e.iv) || !e.iv[i].lo.Before(t) {
			return t, by, true // the window moved t but no interval left covers it
		}
	}
	// Unreachable: every round above consumes at least one interval.
	return time.Time{}, by, false
}

// forbidden reports the constraint that forbids a message exactly at t, if
// any: a cap or min-gap interval containing t, or the window being closed.
func (e *engine) forbidden(t time.Time) (binding, bool) {
	if e.closed {
		return e.never, true
	}
	for _, iv := range e.iv {
		if !iv.lo.Before(t) {
			break
		}
		if iv.hi.After(t) {
			return iv.by, true
		}
	}
	if !e.win.contains(t) {
		return binding{kind: kindWindow}, true
	}
	return binding{}, false
}

// reason maps a binding constraint to its stable reason code.
func (b binding) reason() outreach.Reason {
	switch b.kind {
	case kindCap:
		return outreach.ReasonDeferredCap
	case kindGap:
		return outreach.ReasonDeferredMinGap
	case kindWindow:
		return outreach.ReasonDeferredSendWindow
	}
	return outreach.ReasonScheduled
}

// ruleString names the constraint the way decisions and timelines show it.
func (e *engine) ruleString(b binding) string {
	switch b.kind {
	case kindCap:
		return capName(e.rule.Caps[b.cap])
	case kindGap:
		return gapName(e.rule.MinGap)
	case kindWindow:
		return e.win.ruleString(e.rule.SendWindow)
	}
	return ""
}

// decide runs the sweep from start and packages the answer.
func (e *engine) decide(start, expires time.Time) Decision {
	if !expires.IsZero() && start.After(expires) {
		return Decision{Reason: outreach.ReasonExpired}
	}
	t, by, ok := e.sweep(start, expires)
	if !ok {
		return Decision{Earliest: utc(t), Reason: outreach.ReasonExpired, Rule: e.ruleString(by)}
	}
	if t.Equal(start) {
		return Decision{At: t.UTC(), Earliest: t.UTC(), Reason: outreach.ReasonScheduled}
	}
	return Decision{At: t.UTC(), Earliest: t.UTC(), Reason: by.reason(), Rule: e.ruleString(by)}
}

// utc is t in UTC, keeping the zero time zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// start is where the search begins: Now, or NotBefore when later. The
// monotonic clock reading is dropped so that comparisons with stored times
// are wall-clock comparisons.
func (r *Request) start() time.Time {
	s := r.Now.Round(0)
	if r.NotBefore.After(s) {
		s = r.NotBefore.Round(0)
	}
	return s
}

// Earliest returns the earliest valid moment >= max(Now, NotBefore) given
// every History event, with the reason and rule of the binding constraint.
// A start pushed by NotBefore alone is not a deferral: the message is
// scheduled for NotBefore.
func Earliest(req Request) Decision {
	var ivBuf [inlineEvents]interval
	var hBuf [inlineEvents]time.Time
	start := req.start()
	win := newWindow(req.Rule.SendWindow, req.Location)
	e := prepare(req.Rule, &win, req.History, start, ivBuf[:], hBuf[:])
	return e.decide(start, req.ExpiresAt.Round(0))
}

// Check is the send-time check: may a message go out exactly at req.Now,
// given History (at send time: only what was really sent, not the message
// itself)? It returns ok, or the reason and rule violated. NotBefore and
// ExpiresAt are not its concern: the caller decides what a late or early
// message means.
func Check(req Request) (ok bool, reason outreach.Reason, rule string) {
	var ivBuf [inlineEvents]interval
	var hBuf [inlineEvents]time.Time
	now := req.Now.Round(0)
	win := newWindow(req.Rule.SendWindow, req.Location)
	e := prepare(req.Rule, &win, req.History, now, ivBuf[:], hBuf[:])
	by, bad := e.forbidden(now)
	if !bad {
		return true, outreach.ReasonScheduled, ""
	}
	return false, by.reason(), e.ruleString(by)
}

// sortTimes sorts in place; insertion sort for the usual handful of events
// because it needs no closure and no allocation.
func sortTimes(ts []time.Time) {
	if len(ts) > 12 {
		slices.SortFunc(ts, time.Time.Compare)
		return
	}
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].Before(ts[j-1]); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

// sortIntervals sorts by start, the order the sweep needs.
func sortIntervals(iv []interval) {
	if len(iv) > 12 {
		slices.SortFunc(iv, func(a, b interval) int { return a.lo.Compare(b.lo) })
		return
	}
	for i := 1; i < len(iv); i++ {
		for j := i; j > 0 && iv[j].lo.Before(iv[j-1].lo); j-- {
			iv[j], iv[j-1] = iv[j-1], iv[j]
		}
	}
}
