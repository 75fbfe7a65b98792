package cadence

import (
	"math/rand/v2"
	"testing"
	"time"

	_ "time/tzdata" // the DST tests must not depend on the machine's zoneinfo

	"github.com/rapport-dev/rapport/internal/outreach"
)

func daily(start, end int, days ...time.Weekday) outreach.SendWindow {
	if len(days) == 0 {
		days = outreach.AllDays()
	}
	return outreach.SendWindow{Days: days, Start: start, End: end}
}

func hm(h, m int) int { return h*60 + m }

// TestWindowDST pins the send window's behaviour on the DST changes of 2026
// in the zones contacts most often live in, and in the two odd ones.
func TestWindowDST(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	berlin := mustZone(t, "Europe/Berlin")
	kolkata := mustZone(t, "Asia/Kolkata")
	lordHowe := mustZone(t, "Australia/Lord_Howe")
	utc := func(y int, mo time.Month, d, h, m int) time.Time { return time.Date(y, mo, d, h, m, 0, 0, time.UTC) }

	tests := []struct {
		name   string
		loc    *time.Location
		win    outreach.SendWindow
		now    time.Time
		want   time.Time
		reason outreach.Reason
	}{
		{
			// 02:00 EST jumps to 03:00 EDT (07:00Z): 02:30 does not exist, the
			// window opens at the first instant after the gap.
			name: "New York spring forward, opening inside the gap",
			loc:  ny, win: daily(hm(2, 30), hm(20, 0), time.Sunday),
			now: utc(2026, 3, 8, 6, 0), want: utc(2026, 3, 8, 7, 0), reason: outreach.ReasonDeferredSendWindow,
		},
		{
			name: "New York spring forward, window entirely inside the gap waits a week",
			loc:  ny, win: daily(hm(2, 0), hm(2, 30), time.Sunday),
			now: utc(2026, 3, 8, 6, 0), want: utc(2026, 3, 15, 6, 0), reason: outreach.ReasonDeferredSendWindow,
		},
		{
			name: "New York spring forward, ordinary opening after the change",
			loc:  ny, win: daily(hm(9, 0), hm(17, 0)),
			now: utc(2026, 3, 7, 23, 0), want: utc(2026, 3, 8, 13, 0), reason: outreach.ReasonDeferredSendWindow,
		},
		{
			// 02:00 EDT falls back to 01:00 EST (06:00Z): 01:00-01:30 happens
			// twice; after the first one closes, the second one opens.
			name: "New York fall back, the repeated hour opens again",
			loc:  ny, win: daily(hm(1, 0), hm(1, 30)),
			now: utc(2026, 11, 1, 5, 45), want: utc(2026, 11, 1, 6, 0), reason: outreach.ReasonDeferredSendWindow,
		},
		{
			name: "New York fall back, inside during the first 01:15",
			loc:  ny, win: daily(hm(1, 0), hm(1, 30)),
			now: utc(2026, 11, 1, 5, 15), want: utc(2026, 11, 1, 5, 15), reason: outreach.ReasonScheduled,
		},
		{
			name: "New York fall back, inside during the second 01:15",
			loc:  ny, win: daily(hm(1, 0), hm(1, 30)),
			now: utc(2026, 11, 1, 6, 15), want: utc(2026, 11, 1, 6, 15), reason: outreach.ReasonScheduled,
		},
		{
			name: "New York fall back, after the second 01:30 waits a day",
			loc:  ny, win: daily(hm(1, 0), hm(1, 30)),
			now: utc(2026, 11, 1, 6, 30), want: utc(2026, 11, 2, 6, 0), reason: outreach.ReasonDeferredSendWindow,
		},
		{
			// 02:00 CET jumps to 03:00 CEST at 01:00Z.
			name: "Berlin spring forward, opening inside the gap",
			loc:  berlin, win: daily(hm(2, 30), hm(20, 0), time.Sunday),
			now: utc(2026, 3, 29, 0, 0), want: utc(2026, 3, 29, 1, 0), reason: outreach.ReasonDeferredSendWindow,
		},
		{
			name: "Berlin spring forward, weekday window over the weekend of the change",
			loc:  berlin, win: daily(hm(9, 0), hm(17, 0), time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday),
			now: utc(2026, 3, 27, 17, 0), want: utc(2026, 3, 30, 7, 0), reason: outreach.ReasonDeferredSendWindow,
		},
		{
			// 03:00 CEST falls back to 02:00 CET at 01:00Z: the first 02:00 is 00:00Z.
			name: "Berlin fall back, first 02:00",
			loc:  berlin, win: daily(hm(2, 0), hm(2, 30), time.Sunday),
			now: utc(2026, 10, 24, 23, 0), want: utc(2026, 10, 25, 0, 0), reason: outreach.ReasonDeferredSendWindow,
		},
		{
			name: "Berlin fall back, second 02:00",
			loc:  berlin, win: daily(hm(2, 0), hm(2, 30), time.Sunday),
			now: utc(2026, 10, 25, 0, 45), want: utc(2026, 10, 25, 1, 0), reason: outreach.ReasonDeferredSendWindow,
		},
		{
			name: "Kolkata half-hour offset",
			loc:  kolkata, win: daily(hm(9, 0), hm(18, 0)),
			now: utc(2026, 3, 2, 3, 0), want: utc(2026, 3, 2, 3, 30), reason: outreach.ReasonDeferredSendWindow,
		},
		{
			name: "Kolkata closing time",
			loc:  kolkata, win: daily(hm(9, 0), hm(18, 0)),
			now: utc(2026, 3, 2, 12, 30), want: utc(2026, 3, 3, 3, 30), reason: outreach.ReasonDeferredSendWindow,
		},
		{
			// Lord Howe falls back by half an hour: 02:00 +11 becomes 01:30
			// +10:30 at 15:00Z, so 01:40 happens twice.
			name: "Lord Howe half-hour fall back",
			loc:  lordHowe, win: daily(hm(1, 40), hm(1, 50)),
			now: utc(2026, 4, 4, 14, 55), want: utc(2026, 4, 4, 15, 10), reason: outreach.ReasonDeferredSendWindow,
		},
		{
			name: "window until midnight",
			loc:  berlin, win: daily(hm(22, 0), 24*60, time.Saturday),
			now: utc(2026, 6, 6, 21, 59), want: utc(2026, 6, 6, 21, 59), reason: outreach.ReasonScheduled,
		},
		{
			name: "window until midnight closes at midnight",
			loc:  berlin, win: daily(hm(22, 0), 24*60, time.Saturday),
			now: utc(2026, 6, 6, 22, 0), want: utc(2026, 6, 13, 20, 0), reason: outreach.ReasonDeferredSendWindow,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Earliest(Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(10, time.Hour)}, SendWindow: tc.win}, Location: tc.loc, Now: tc.now})
			expectEq(t, tc.reason, d.Reason)
			expectTrue(t, d.At.Equal(tc.want), "At = %v (%v), want %v (%v)", d.At, d.At.In(tc.loc), tc.want, tc.want.In(tc.loc))
			if tc.reason == outreach.ReasonDeferredSendWindow {
				expectEq(t, tc.win.String()+" "+tc.loc.String(), d.Rule)
			}
			ok, _, _ := Check(Request{Rule: outreach.Rule{SendWindow: tc.win}, Location: tc.loc, Now: d.At})
			expectTrue(t, ok, "Check disagrees at %v", d.At)
		})
	}
}

// TestCapsAreAbsoluteAcrossDST documents that cap windows and gaps are
// durations, not calendar days: across spring forward "1 per 24h" means 24
// real hours, which is 25 hours on the wall clock.
func TestCapsAreAbsoluteAcrossDST(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	sat := time.Date(2026, 3, 28, 10, 0, 0, 0, berlin)
	d := Earliest(Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(1, day)}, SendWindow: outreach.AlwaysOpen}, Location: berlin, History: []Event{sent(sat)}, Now: sat.Add(time.Hour)})
	expectEq(t, outreach.ReasonDeferredCap, d.Reason)
	expectTrue(t, d.At.Equal(time.Date(2026, 3, 29, 11, 0, 0, 0, berlin)), "%v", d.At.In(berlin))
}

func TestWindowRuleNamesZone(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	w := outreach.SendWindow{Days: []time.Weekday{time.Tuesday, time.Monday}, Start: hm(9, 0), End: hm(20, 0)}
	d := Earliest(Request{Rule: outreach.Rule{Caps: []outreach.Cap{capOf(1, day)}, SendWindow: w}, Location: berlin, Now: time.Date(2026, 6, 3, 12, 0, 0, 0, time.UTC)})
	expectEq(t, "send_window mon,tue 09:00-20:00 Europe/Berlin", d.Rule)
	expectTrue(t, d.At.Equal(time.Date(2026, 6, 8, 9, 0, 0, 0, berlin)), "%v", d.At)
}

func TestWindowRuleStringMatchesOutreach(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, loc := range loadZones(t) {
		for range 500 {
			sw := randRule(r).SendWindow
			if r.IntN(4) == 0 {
				sw.Days = append(sw.Days, sw.Days...) // duplicates
				r.Shuffle(len(sw.Days), func(i, j int) { sw.Days[i], sw.Days[j] = sw.Days[j], sw.Days[i] })
			}
			if r.IntN(10) == 0 {
				sw.Days = append(sw.Days, 9) // not a day
			}
			w := newWindow(sw, loc)
			expectEq(t, sw.String()+" "+loc.String(), w.ruleString(sw))
		}
	}
}
