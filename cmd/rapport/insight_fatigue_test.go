package main

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type fatigueCell struct {
	Tier        string              `json:"tier"`
	Week        string              `json:"week"`
	WeekStart   string              `json:"week_start"`
	CampaignID  *int64              `json:"campaign_id"`
	Sent        int64               `json:"sent"`
	Events      map[string]int64    `json:"events"`
	Per1000Sent map[string]*float64 `json:"per_1000_sent"`
}

type fatigueAnswer struct {
	From, To      string
	Attribution   string
	RollupThrough *string `json:"rollup_through"`
	Weeks         []fatigueCell
	Campaigns     []fatigueCell
	Totals        []fatigueCell
}

// events writes the six event counts in the API's order: unsubscribes,
// complaints, hard bounces, downgrades, pauses, topic opt-outs.
func events(u, c, hb, d, p, t int64) map[string]int64 {
	return map[string]int64{"unsubscribes": u, "complaints": c, "hard_bounces": hb, "downgrades": d, "pauses": p, "topic_opt_outs": t}
}

// fatigueWorld is a made-up fortnight: two ISO weeks W1 = [d0, d0+7) and
// W2 = [d0+7, d0+14), both closed, with a run before them for exposure.
//
//	contacts (created d0-10): h1..h4 high, m1 m2 medium
//	P (campaign A) d0-5:  sent h1 h2 h3
//	A (campaign A) d0+1:  sent h1 h2 h3 h4 (high) and m1 m2 (medium)
//	B (campaign B) d0+8:  sent h1 h2 m1; h3 skipped (paused)
//	d0+2 12:00 h1 unsubscribes                    → high, campaign A
//	d0+2 13:00 h2 chooses medium, opts out of 2   → high, A: a downgrade and 2 topic opt-outs
//	d0+3 09:00 h4 hard-bounces                    → high, A
//	d0+9 08:00 m1 pauses                          → medium, B
//	d0+9 12:00 h3 complains                       → high, no campaign (A was 8 days before; B skipped them)
//	d0+10      m2 chooses high (more, not less)   → nothing; m1 resumes → nothing
func fatigueWorld(t *testing.T, a *testApp) (d0 time.Time) {
	today := utcDay(time.Now())
	monday := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
	d0 = monday.AddDate(0, 0, -14)
	at := func(days, hour int) time.Time { return d0.AddDate(0, 0, days).Add(time.Duration(hour) * time.Hour) }
	p := func(t time.Time) *time.Time { return &t }
	h := newHistory(t, a)
	created := d0.AddDate(0, 0, -10)
	for _, c := range []struct{ email, tier, pref, status string }{
		{"h1@example.com", "high", "", "unsubscribed"}, {"h2@example.com", "high", "medium", "active"},
		{"h3@example.com", "high", "", "complained"}, {"h4@example.com", "high", "", "bounced"},
		{"m1@example.com", "medium", "", "active"}, {"m2@example.com", "medium", "high", "active"},
	} {
		h.contact(c.email, c.tier, c.pref, c.status, created, nil)
	}
	h.campaign("A", 50)
	h.campaign("B", 50)
	h.run("A", at(-5, 9), at(-3, 9))
	h.run("A", at(1, 9), at(3, 9))
	h.run("B", at(8, 9), at(10, 9))
	for _, e := range []string{"h1", "h2", "h3"} {
		h.delivery("A", at(-5, 9), e+"@example.com", "high", "sent", "sent", at(-5, 10), p(at(-5, 10)))
	}
	for _, e := range []string{"h1", "h2", "h3", "h4"} {
		h.delivery("A", at(1, 9), e+"@example.com", "high", "sent", "sent", at(1, 10), p(at(1, 10)))
	}
	for _, e := range []string{"m1", "m2"} {
		h.delivery("A", at(1, 9), e+"@example.com", "medium", "sent", "sent", at(1, 11), p(at(1, 11)))
	}
	h.delivery("B", at(8, 9), "h1@example.com", "high", "skipped", "unsubscribed", at(8, 9), nil)
	h.delivery("B", at(8, 9), "h2@example.com", "high", "sent", "sent", at(8, 10), p(at(8, 10)))
	h.delivery("B", at(8, 9), "h3@example.com", "high", "skipped", "paused", at(8, 9), nil)
	h.delivery("B", at(8, 9), "m1@example.com", "medium", "sent", "sent", at(8, 10), p(at(8, 10)))
	h.event("h1@example.com", "unsubscribed", `{"before":{"status":"active"},"after":{"status":"unsubscribed"}}`, at(2, 12))
	h.event("h2@example.com", "preferences_changed", `{"before":{"preferred_tier":"","topics_opted_out":[]},
		"after":{"preferred_tier":"medium","topics_opted_out":["events","offers"]}}`, at(2, 13))
	h.event("h4@example.com", "suppressed", `{"reason":"hard_bounce"}`, at(3, 9))
	h.event("m1@example.com", "paused", `{}`, at(9, 8))
	h.event("h3@example.com", "suppressed", `{"reason":"complaint"}`, at(9, 12))
	h.event("m2@example.com", "preferences_changed", `{"before":{"preferred_tier":"","topics_opted_out":[]},
		"after":{"preferred_tier":"high","topics_opted_out":[]}}`, at(10, 9))
	h.event("m1@example.com", "resumed", `{}`, at(10, 10))
	h.commit()
	return d0
}

func TestInsightFatigue(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	viewer := a.newKey("viewer")
	d0 := fatigueWorld(t, a)
	now := time.Now().UTC()
	rep := a.rollup(now)
	require.Equal(t, 6, rep.Events, "six ledger rows: an unsubscribe, a downgrade and a topic opt-out (one event), a hard bounce, a pause, a complaint")
	// Twice, and from two processes at once: the same answer.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); a.rollup(now) }()
	}
	wg.Wait()

	q := fmt.Sprintf("/api/v1/insights/fatigue?from=%s&to=%s", d0.Format(time.DateOnly), d0.AddDate(0, 0, 13).Format(time.DateOnly))
	var f fatigueAnswer
	code, raw := a.call("GET", q, viewer, nil, &f)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Contains(t, f.Attribution, "last delivery planned before")
	require.Contains(t, f.Attribution, "within the 7 days before")
	require.NotNil(t, f.RollupThrough)
	w1, w2 := d0.Format(time.DateOnly), d0.AddDate(0, 0, 7).Format(time.DateOnly)
	type row struct {
		tier, week string
		sent       int64
		ev         map[string]int64
	}
	var got []row
	for _, w := range f.Weeks {
		got = append(got, row{w.Tier, w.WeekStart, w.Sent, w.Events})
	}
	require.Equal(t, []row{
		{"high", w1, 4, events(1, 0, 1, 1, 0, 2)},
		{"high", w2, 1, events(0, 1, 0, 0, 0, 0)},
		{"medium", w1, 2, events(0, 0, 0, 0, 0, 0)},
		{"medium", w2, 1, events(0, 0, 0, 0, 1, 0)},
	}, got)
	y, wk := d0.ISOWeek()
	require.Equal(t, fmt.Sprintf("%d-W%02d", y, wk), f.Weeks[0].Week)
	hw1 := f.Weeks[0].Per1000Sent
	require.Equal(t, 250.0, *hw1["unsubscribes"])
	require.Equal(t, 500.0, *hw1["topic_opt_outs"])
	require.Equal(t, 0.0, *hw1["pauses"])
	require.Equal(t, 1000.0, *f.Weeks[1].Per1000Sent["complaints"])
	require.Equal(t, 1000.0, *f.Weeks[3].Per1000Sent["pauses"])

	var camps []row
	for _, c := range f.Campaigns {
		id := "none"
		if c.CampaignID != nil {
			id = map[int64]string{1: "A", 2: "B"}[*c.CampaignID]
		}
		camps = append(camps, row{c.Tier, id, c.Sent, c.Events})
	}
	require.Equal(t, []row{
		{"high", "none", 0, events(0, 1, 0, 0, 0, 0)},
		{"high", "A", 4, events(1, 0, 1, 1, 0, 2)},
		{"high", "B", 1, events(0, 0, 0, 0, 0, 0)},
		{"medium", "A", 2, events(0, 0, 0, 0, 0, 0)},
		{"medium", "B", 1, events(0, 0, 0, 0, 1, 0)},
	}, camps)
	require.Nil(t, f.Campaigns[0].Per1000Sent["complaints"], "no messages sent: no rate")
	require.Len(t, f.Totals, 2)
	require.Equal(t, int64(5), f.Totals[0].Sent)
	require.Equal(t, events(1, 1, 1, 1, 0, 2), f.Totals[0].Events)
	require.Equal(t, 200.0, *f.Totals[0].Per1000Sent["complaints"])

	// One tier, and only W2.
	code, raw = a.call("GET", q+"&tier=medium", viewer, nil, &f)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Len(t, f.Weeks, 2)
	require.Equal(t, "medium", f.Weeks[0].Tier)
	code, _ = a.call("GET", "/api/v1/insights/fatigue?from="+w2+"&to="+d0.AddDate(0, 0, 13).Format(time.DateOnly), viewer, nil, &f)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, f.Weeks, 2)

	for _, bad := range []struct {
		q     string
		code  int
		field string
	}{
		{"?from=2026-13-01", 400, "from"},
		{"?to=yesterday", 400, "to"},
		{"?from=2026-11-10&to=2026-11-01", 422, "to"},
		{"?from=2024-01-01&to=2026-01-01", 422, "from"},
		{"?tier=gold", 422, "tier"},
	} {
		code, raw := a.call("GET", "/api/v1/insights/fatigue"+bad.q, viewer, nil, nil)
		require.Equal(t, bad.code, code, bad.q+" "+string(raw))
		require.Contains(t, fieldsOf(t, raw), bad.field, bad.q)
	}
}

type pressureAnswer struct {
	From, To string
	Days     int
	Method   string
	Tiers    []struct {
		Tier        string
		ContactDays int64 `json:"contact_days"`
		Events      int64
		Buckets     []struct {
			Messages    string
			Max         *int
			ContactDays int64    `json:"contact_days"`
			Events      int64    `json:"events"`
			Per1000     *float64 `json:"per_1000_contact_days"`
		}
	}
}

func TestInsightPressure(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	viewer := a.newKey("viewer")
	d0 := fatigueWorld(t, a)
	now := time.Now().UTC()
	rep := a.rollup(now)
	last := utcDay(now.Add(-time.Hour)).AddDate(0, 0, -1)
	require.Equal(t, last, rep.DaysThrough)

	// The reference: each contact, each day from the first activity (run
	// P's firing: the rollup starts there) to the last closed day while it
	// could be mailed, at the messages of the 30 days
	// before, in the tier of the latest of them (else its tier now).
	type send struct {
		day  int // days after d0
		tier string
	}
	sends := map[string][]send{
		"h1": {{-5, "high"}, {1, "high"}}, "h2": {{-5, "high"}, {1, "high"}, {8, "high"}},
		"h3": {{-5, "high"}, {1, "high"}}, "h4": {{1, "high"}},
		"m1": {{1, "medium"}, {8, "medium"}}, "m2": {{1, "medium"}},
	}
	nowTier := map[string]string{"h1": "high", "h2": "medium", "h3": "high", "h4": "high", "m1": "medium", "m2": "medium"}
	goneOn := map[string]int{"h1": 2, "h3": 9, "h4": 3}
	type cell struct {
		tier   string
		bucket string
	}
	want := map[cell]int64{}
	lastDay := int(last.Sub(d0).Hours() / 24)
	for c, ss := range sends {
		for d := -5; d <= lastDay; d++ {
			if g, ok := goneOn[c]; ok && d > g {
				break
			}
			n, tier := 0, nowTier[c]
			for _, s := range ss {
				if s.day >= d-30 && s.day < d {
					n, tier = n+1, s.tier
				}
			}
			want[cell{tier, []string{"0", "1", "2", "3"}[min(n, 3)]}]++
		}
	}
	var p pressureAnswer
	code, raw := a.call("GET", "/api/v1/insights/pressure?days=60", viewer, nil, &p)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, last.Format(time.DateOnly), p.To)
	require.Equal(t, 60, p.Days)
	got := map[cell]int64{}
	ev := map[cell]int64{}
	for _, tr := range p.Tiers {
		require.Len(t, tr.Buckets, 7)
		require.Equal(t, []string{"0", "1", "2", "3", "4-5", "6-9", "10+"}, []string{tr.Buckets[0].Messages, tr.Buckets[1].Messages,
			tr.Buckets[2].Messages, tr.Buckets[3].Messages, tr.Buckets[4].Messages, tr.Buckets[5].Messages, tr.Buckets[6].Messages})
		require.Nil(t, tr.Buckets[6].Max)
		for _, b := range tr.Buckets {
			if b.ContactDays > 0 {
				got[cell{tr.Tier, b.Messages}] = b.ContactDays
			}
			if b.Events > 0 {
				ev[cell{tr.Tier, b.Messages}] = b.Events
			}
		}
	}
	require.Equal(t, want, got)
	// h1's unsubscribe, h2's downgrade and h3's complaint each came after
	// two messages in 30 days, on high; m1's pause too, on medium. The
	// hard bounce is not a cadence signal.
	require.Equal(t, map[cell]int64{{"high", "2"}: 3, {"medium", "2"}: 1}, ev)
	for _, tr := range p.Tiers {
		if tr.Tier == "high" {
			b := tr.Buckets[2]
			require.InDelta(t, float64(3)*1000/float64(b.ContactDays), *b.Per1000, 0.006)
		}
	}
	code, raw = a.call("GET", "/api/v1/insights/pressure?tier=medium&days=60", viewer, nil, &p)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Len(t, p.Tiers, 1)
	for _, bad := range []struct {
		q     string
		code  int
		field string
	}{{"?days=0", 422, "days"}, {"?days=366", 422, "days"}, {"?days=ten", 400, "days"}, {"?tier=gold", 422, "tier"}} {
		code, raw := a.call("GET", "/api/v1/insights/pressure"+bad.q, viewer, nil, nil)
		require.Equal(t, bad.code, code, bad.q+" "+string(raw))
		require.Contains(t, fieldsOf(t, raw), bad.field, bad.q)
	}
}
