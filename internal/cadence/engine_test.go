package cadence

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

const day = 24 * time.Hour

// now is a Monday morning in UTC, far from any DST change in the zones used.
var now = time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)

func capOf(max int, w time.Duration) outreach.Cap {
	return outreach.Cap{Max: max, Window: outreach.Duration(w)}
}

func ruleOf(caps ...outreach.Cap) outreach.Rule {
	return outreach.Rule{Caps: caps, SendWindow: outreach.AlwaysOpen}
}

func sent(at time.Time) Event { return Event{At: at} }

func reserved(id int64, at time.Time, prio int) Event {
	return Event{ID: id, At: at, Priority: prio, Reserved: true}
}

func TestEarliest(t *testing.T) {
	weekdays := outreach.SendWindow{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, Start: 9 * 60, End: 17 * 60}
	tests := []struct {
		name     string
		req      Request
		at       time.Time // zero: expired
		earliest time.Time
		reason   outreach.Reason
		rule     string
	}{
		{
			name:   "no history goes now",
			req:    Request{Rule: ruleOf(capOf(1, 7*day))},
			at:     now,
			reason: outreach.ReasonScheduled,
		},
		{
			name:   "cap 1/7d defers to a week after the last message",
			req:    Request{Rule: ruleOf(capOf(1, 7*day)), History: []Event{sent(now.Add(-2 * day))}},
			at:     now.Add(5 * day),
			reason: outreach.ReasonDeferredCap, rule: "cap 1/7d",
		},
		{
			name:   "exactly the window apart is allowed",
			req:    Request{Rule: ruleOf(capOf(1, 7*day)), History: []Event{sent(now.Add(-7 * day))}},
			at:     now,
			reason: outreach.ReasonScheduled,
		},
		{
			name:   "one nanosecond inside the window is not",
			req:    Request{Rule: ruleOf(capOf(1, 7*day)), History: []Event{sent(now.Add(-7*day + 1))}},
			at:     now.Add(1),
			reason: outreach.ReasonDeferredCap, rule: "cap 1/7d",
		},
		{
			name:   "cap 3/7d with two messages in the window still has room",
			req:    Request{Rule: ruleOf(capOf(3, 7*day)), History: []Event{sent(now.Add(-6 * day)), sent(now.Add(-day))}},
			at:     now,
			reason: outreach.ReasonScheduled,
		},
		{
			name:   "cap 3/7d full waits for the oldest to leave the window",
			req:    Request{Rule: ruleOf(capOf(3, 7*day)), History: []Event{sent(now.Add(-day)), sent(now.Add(-6 * day)), sent(now.Add(-5 * day))}},
			at:     now.Add(day),
			reason: outreach.ReasonDeferredCap, rule: "cap 3/7d",
		},
		{
			name: "caps are AND-ed and the later one binds",
			req: Request{Rule: ruleOf(capOf(1, day), capOf(3, 7*day)), History: []Event{
				sent(now.Add(-6 * day)), sent(now.Add(-3 * day)), sent(now.Add(-2 * time.Hour)),
			}},
			at:     now.Add(day),
			reason: outreach.ReasonDeferredCap, rule: "cap 3/7d",
		},
		{
			name: "caps are AND-ed and the daily one binds",
			req: Request{Rule: ruleOf(capOf(1, day), capOf(3, 7*day)), History: []Event{
				sent(now.Add(-6 * day)), sent(now.Add(-2 * time.Hour)),
			}},
			at:     now.Add(22 * time.Hour),
			reason: outreach.ReasonDeferredCap, rule: "cap 1/1d",
		},
		{
			name:   "min gap and cap both satisfied",
			req:    Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(1, 30*day)}, MinGap: 14 * day, SendWindow: outreach.AlwaysOpen}, History: []Event{sent(now.Add(-40 * day)), sent(now.Add(-31 * day))}},
			at:     now,
			reason: outreach.ReasonScheduled,
		},
		{
			name:   "min gap defers",
			req:    Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(5, 30*day)}, MinGap: 14 * day, SendWindow: outreach.AlwaysOpen}, History: []Event{sent(now.Add(-10 * day))}},
			at:     now.Add(4 * day),
			reason: outreach.ReasonDeferredMinGap, rule: "min_gap 14d",
		},
		{
			name:   "a reserved message in the future blocks the gap before it",
			req:    Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(5, 30*day)}, MinGap: 2 * day, SendWindow: outreach.AlwaysOpen}, History: []Event{reserved(1, now.Add(day), 50)}},
			at:     now.Add(3 * day),
			reason: outreach.ReasonDeferredMinGap, rule: "min_gap 2d",
		},
		{
			name:   "a reserved message far enough in the future leaves now free",
			req:    Request{Rule: ruleOf(capOf(1, 7*day)), History: []Event{reserved(1, now.Add(7*day), 50)}},
			at:     now,
			reason: outreach.ReasonScheduled,
		},
		{
			name:   "a reserved message in the future blocks the cap window before it",
			req:    Request{Rule: ruleOf(capOf(1, 7*day)), History: []Event{reserved(1, now.Add(3*day), 50)}},
			at:     now.Add(10 * day),
			reason: outreach.ReasonDeferredCap, rule: "cap 1/7d",
		},
		{
			name:   "sent and reserved together fill a cap",
			req:    Request{Rule: ruleOf(capOf(2, 7*day)), History: []Event{sent(now.Add(-day)), reserved(1, now.Add(2*day), 50)}},
			at:     now.Add(6 * day),
			reason: outreach.ReasonDeferredCap, rule: "cap 2/7d",
		},
		{
			name:   "old violations are not the new message's concern",
			req:    Request{Rule: ruleOf(capOf(1, 7*day)), History: []Event{sent(now.Add(-20 * day)), sent(now.Add(-19 * day))}},
			at:     now,
			reason: outreach.ReasonScheduled,
		},
		{
			name:   "NotBefore is the start, not a deferral",
			req:    Request{Rule: ruleOf(capOf(1, 7*day)), NotBefore: now.Add(5 * day)},
			at:     now.Add(5 * day),
			reason: outreach.ReasonScheduled,
		},
		{
			name:   "NotBefore in the past is ignored",
			req:    Request{Rule: ruleOf(capOf(1, 7*day)), NotBefore: now.Add(-5 * day)},
			at:     now,
			reason: outreach.ReasonScheduled,
		},
		{
			name:   "a cap defers past NotBefore",
			req:    Request{Rule: ruleOf(capOf(1, 7*day)), NotBefore: now.Add(day), History: []Event{sent(now.Add(-2 * day))}},
			at:     now.Add(5 * day),
			reason: outreach.ReasonDeferredCap, rule: "cap 1/7d",
		},
		{
			name:     "expired when the earliest slot is past expiry",
			req:      Request{Rule: ruleOf(capOf(1, 7*day)), History: []Event{sent(now.Add(-2 * day))}, ExpiresAt: now.Add(3 * day)},
			earliest: now.Add(5 * day),
			reason:   outreach.ReasonExpired, rule: "cap 1/7d",
		},
		{
			name:   "a slot exactly at expiry is still in time",
			req:    Request{Rule: ruleOf(capOf(1, 7*day)), History: []Event{sent(now.Add(-2 * day))}, ExpiresAt: now.Add(5 * day)},
			at:     now.Add(5 * day),
			reason: outreach.ReasonDeferredCap, rule: "cap 1/7d",
		},
		{
			name:   "expired before it starts",
			req:    Request{Rule: ruleOf(capOf(1, 7*day)), NotBefore: now.Add(2 * day), ExpiresAt: now.Add(day)},
			reason: outreach.ReasonExpired,
		},
		{
			name:   "window closed now defers to the next opening",
			req:    Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(1, day)}, SendWindow: weekdays}, Now: now.Add(8 * time.Hour)},
			at:     time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC),
			reason: outreach.ReasonDeferredSendWindow, rule: "send_window mon,tue,wed,thu,fri 09:00-17:00 UTC",
		},
		{
			name:   "a cap pushes to a moment inside the window, the cap binds",
			req:    Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(1, day)}, SendWindow: weekdays}, History: []Event{sent(now.Add(-time.Hour))}},
			at:     time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC),
			reason: outreach.ReasonDeferredCap, rule: "cap 1/1d",
		},
		{
			name:   "window closed over the weekend",
			req:    Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(1, day)}, SendWindow: weekdays}, Now: time.Date(2026, 6, 5, 17, 0, 0, 0, time.UTC)},
			at:     time.Date(2026, 6, 8, 9, 0, 0, 0, time.UTC),
			reason: outreach.ReasonDeferredSendWindow, rule: "send_window mon,tue,wed,thu,fri 09:00-17:00 UTC",
		},
		{
			name:   "the min gap pushes to closing time, the window binds",
			req:    Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(5, day)}, MinGap: 8 * time.Hour, SendWindow: weekdays}, History: []Event{sent(now.Add(-time.Hour))}},
			at:     time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC),
			reason: outreach.ReasonDeferredSendWindow, rule: "send_window mon,tue,wed,thu,fri 09:00-17:00 UTC",
		},
		{
			name:   "the window opens but the min gap holds longer, the gap binds",
			req:    Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(5, day)}, MinGap: 13 * time.Hour, SendWindow: weekdays}, Now: now.Add(8 * time.Hour), History: []Event{reserved(1, time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC), 50)}},
			at:     time.Date(2026, 6, 2, 13, 0, 0, 0, time.UTC),
			reason: outreach.ReasonDeferredMinGap, rule: "min_gap 13h",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.Now.IsZero() {
				tc.req.Now = now
			}
			d := Earliest(tc.req)
			expectEq(t, tc.reason, d.Reason)
			expectEq(t, tc.rule, d.Rule)
			expectTrue(t, tc.at.Equal(d.At), "At = %v, want %v", d.At, tc.at)
			if tc.at.IsZero() {
				expectTrue(t, tc.earliest.Equal(d.Earliest), "Earliest = %v, want %v", d.Earliest, tc.earliest)
			} else {
				expectTrue(t, tc.at.Equal(d.Earliest), "Earliest = %v, want %v", d.Earliest, tc.at)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	r := outreach.Rule{Caps: []outreach.Cap{capOf(2, 7*day)}, MinGap: 12 * time.Hour,
		SendWindow: outreach.SendWindow{Days: []time.Weekday{time.Monday}, Start: 9 * 60, End: 20 * 60}}
	berlin := mustZone(t, "Europe/Berlin")
	tests := []struct {
		name    string
		history []Event
		at      time.Time
		reason  outreach.Reason
		rule    string
	}{
		{name: "free", at: now},
		{name: "cap", history: []Event{sent(now.Add(-2 * day)), sent(now.Add(-4 * day))}, at: now, reason: outreach.ReasonDeferredCap, rule: "cap 2/7d"},
		{name: "cap boundary", history: []Event{sent(now.Add(-2 * day)), sent(now.Add(-7 * day))}, at: now},
		{name: "min gap", history: []Event{sent(now.Add(-11 * time.Hour))}, at: now, reason: outreach.ReasonDeferredMinGap, rule: "min_gap 12h"},
		{name: "min gap boundary", history: []Event{sent(now.Add(-12 * time.Hour))}, at: now},
		{name: "a later reservation is not history at send time, but if passed it counts", history: []Event{reserved(1, now.Add(time.Hour), 1)}, at: now, reason: outreach.ReasonDeferredMinGap, rule: "min_gap 12h"},
		{name: "outside window in Berlin", at: time.Date(2026, 6, 1, 18, 30, 0, 0, time.UTC), reason: outreach.ReasonDeferredSendWindow, rule: "send_window mon 09:00-20:00 Europe/Berlin"},
		{name: "last second of the window in Berlin", at: time.Date(2026, 6, 1, 17, 59, 59, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason, rule := Check(Request{Rule: r, Location: berlin, History: tc.history, Now: tc.at})
			if tc.reason == "" {
				expectTrue(t, ok, "reason %s rule %s", reason, rule)
				return
			}
			expectTrue(t, !ok)
			expectEq(t, tc.reason, reason)
			expectEq(t, tc.rule, rule)
		})
	}
}

func TestDecideJitter(t *testing.T) {
	r := ruleOf(capOf(1, 7*day))
	rng := rand.New(rand.NewPCG(1, 2))
	spread := 4 * time.Hour

	t.Run("messages that can go now are not jittered", func(t *testing.T) {
		d := Decide(Request{Rule: r, Now: now}, rng, spread)
		expectEq(t, outreach.ReasonScheduled, d.Reason)
		expectTrue(t, d.At.Equal(now))
	})

	t.Run("deferred messages spread over [Earliest, Earliest+spread)", func(t *testing.T) {
		req := Request{Rule: r, Now: now, History: []Event{sent(now.Add(-2 * day))}}
		seen := map[time.Time]bool{}
		for range 200 {
			d := Decide(req, rng, spread)
			mustEq(t, outreach.ReasonDeferredCap, d.Reason)
			mustEq(t, "cap 1/7d", d.Rule)
			mustTrue(t, d.Earliest.Equal(now.Add(5*day)))
			mustTrue(t, !d.At.Before(d.Earliest))
			mustTrue(t, d.At.Before(d.Earliest.Add(spread)))
			mustEq(t, 0, d.At.Nanosecond(), "jitter is whole seconds")
			seen[d.At] = true
		}
		expectTrue(t, len(seen) > 150, "jitter should spread messages")
	})

	t.Run("jitter is re-validated against the window", func(t *testing.T) {
		// Window 09:00-09:30: most jitters of a 4h spread land after it closes
		// and must move to the next day's opening.
		req := Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(1, day)}, SendWindow: outreach.SendWindow{Days: outreach.AllDays(), Start: 9 * 60, End: 9*60 + 30}}, Now: now}
		for range 100 {
			d := Decide(req, rng, spread)
			mustEq(t, outreach.ReasonDeferredSendWindow, d.Reason)
			mustTrue(t, d.Earliest.Equal(time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)))
			lt := d.At
			mustTrue(t, lt.Hour() == 9 && lt.Minute() < 30, "At %v outside window", d.At)
		}
	})

	t.Run("jitter never makes a message expire", func(t *testing.T) {
		req := Request{Rule: r, Now: now, History: []Event{sent(now.Add(-2 * day))}, ExpiresAt: now.Add(5*day + time.Minute)}
		for range 100 {
			d := Decide(req, rng, spread)
			mustEq(t, outreach.ReasonDeferredCap, d.Reason)
			mustTrue(t, !d.At.After(req.ExpiresAt))
			mustTrue(t, !d.At.Before(d.Earliest))
		}
	})

	t.Run("nil rng means no jitter", func(t *testing.T) {
		d := Decide(Request{Rule: r, Now: now, History: []Event{sent(now.Add(-2 * day))}}, nil, spread)
		expectTrue(t, d.At.Equal(d.Earliest))
	})
}

func TestPlace(t *testing.T) {
	r := ruleOf(capOf(1, 7*day))

	t.Run("no lower reservation: plain Decide", func(t *testing.T) {
		d, disp := Place(Request{Rule: r, Now: now, Priority: 50, History: []Event{reserved(1, now.Add(day), 50)}}, nil, nil, 0)
		expectEq(t, 0, len(disp))
		expectEq(t, outreach.ReasonDeferredCap, d.Reason)
		expectTrue(t, d.At.Equal(now.Add(8*day)))
	})

	t.Run("higher priority takes the slot and the lower one moves", func(t *testing.T) {
		d, disp := Place(Request{Rule: r, Now: now, Priority: 80, History: []Event{reserved(7, now.Add(day), 20)}}, nil, nil, 0)
		expectEq(t, outreach.ReasonScheduled, d.Reason)
		expectTrue(t, d.At.Equal(now))
		mustEq(t, 1, len(disp))
		expectEq(t, Displaced{ID: 7, At: now.Add(7 * day).UTC(), Reason: outreach.ReasonDeferredCap, Rule: "cap 1/7d"}, disp[0])
	})

	t.Run("the displaced one is skipped when it would be late", func(t *testing.T) {
		d, disp := Place(Request{Rule: r, Now: now, Priority: 80, History: []Event{reserved(7, now.Add(day), 20)}},
			map[int64]time.Time{7: now.Add(3 * day)}, nil, 0)
		expectTrue(t, d.At.Equal(now))
		mustEq(t, 1, len(disp))
		expectEq(t, Displaced{ID: 7, Reason: outreach.ReasonPreempted, Rule: "cap 1/7d", Expired: true}, disp[0])
	})

	t.Run("a lower reservation that still fits is not moved", func(t *testing.T) {
		d, disp := Place(Request{Rule: ruleOf(capOf(2, 7*day)), Now: now, Priority: 80, History: []Event{
			reserved(7, now.Add(day), 20), reserved(8, now.Add(2*day), 10),
		}}, nil, nil, 0)
		expectTrue(t, d.At.Equal(now))
		mustEq(t, 1, len(disp))
		// 7 has the higher priority of the two and keeps its place; 8 moves.
		expectEq(t, int64(8), disp[0].ID)
		expectTrue(t, disp[0].At.Equal(now.Add(7*day)), "%v", disp[0].At)
	})

	t.Run("equal priority is not displaced", func(t *testing.T) {
		d, disp := Place(Request{Rule: r, Now: now, Priority: 20, History: []Event{reserved(7, now.Add(day), 20)}}, nil, nil, 0)
		expectEq(t, 0, len(disp))
		expectTrue(t, d.At.Equal(now.Add(8*day)))
	})

	t.Run("sent messages are never displaced", func(t *testing.T) {
		d, disp := Place(Request{Rule: r, Now: now, Priority: 100, History: []Event{{ID: 3, At: now.Add(-day), Priority: 0}}}, nil, nil, 0)
		expectEq(t, 0, len(disp))
		expectTrue(t, d.At.Equal(now.Add(6*day)))
	})

	t.Run("no displacement when it gains nothing", func(t *testing.T) {
		// The sent message binds until +6d anyway; the lower reservation at
		// +20d is not in the way.
		d, disp := Place(Request{Rule: r, Now: now, Priority: 90, History: []Event{sent(now.Add(-day)), reserved(7, now.Add(20*day), 10)}}, nil, nil, 0)
		expectEq(t, 0, len(disp))
		expectTrue(t, d.At.Equal(now.Add(6*day)))
	})

	t.Run("preempting when the new message would otherwise expire", func(t *testing.T) {
		d, disp := Place(Request{Rule: r, Now: now, Priority: 90, ExpiresAt: now.Add(2 * day), History: []Event{reserved(7, now.Add(day), 10)}}, nil, nil, 0)
		expectTrue(t, d.At.Equal(now))
		mustEq(t, 1, len(disp))
		expectTrue(t, disp[0].At.Equal(now.Add(7*day)))
	})
}

func TestZeroWindowIsUnrestricted(t *testing.T) {
	d := Earliest(Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(1, day)}}, Now: now})
	expectEq(t, outreach.ReasonScheduled, d.Reason)
}

func TestWindowThatNeverOpensExpires(t *testing.T) {
	d := Earliest(Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(1, day)}, SendWindow: outreach.SendWindow{Start: 9 * 60, End: 10 * 60}}, Now: now})
	expectEq(t, outreach.ReasonExpired, d.Reason)
	expectTrue(t, d.At.IsZero())
	expectEq(t, "send_window  09:00-10:00 UTC", d.Rule)
}

func TestManyEventsUseTheSlowPath(t *testing.T) {
	// More events than the inline buffers hold, in reverse order.
	var h []Event
	for i := range 30 {
		h = append(h, sent(now.Add(-time.Duration(i)*time.Hour)))
	}
	d := Earliest(Request{Rule: ruleOf(capOf(30, 7*day)), History: h, Now: now})
	expectEq(t, outreach.ReasonDeferredCap, d.Reason)
	expectTrue(t, d.At.Equal(now.Add(-29*time.Hour).Add(7*day)), "%v", d.At)
}
