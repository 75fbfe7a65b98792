package planner

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// weekly is a tier with one message a week, sent 08:00–20:00 UTC.
func weekly() *Planner {
	rule := outreach.Rule{Caps: []outreach.Cap{{Max: 1, Window: outreach.Duration(7 * 24 * time.Hour)}},
		SendWindow: outreach.SendWindow{Days: outreach.AllDays(), Start: 8 * 60, End: 20 * 60}}
	return New([]outreach.Tier{{Key: "medium", Rank: 20, Rule: rule}}, time.UTC, time.Minute)
}

// reservedBy gives each of n contacts one reservation of campaign owner
// (priority prio) at slot, expiring at expires; delivery ids are 1000+i.
func reservedBy(n int, owner int64, prio int, slot, expires time.Time) []Target {
	out := make([]Target, n)
	for i := range out {
		id := int64(1000 + i)
		out[i] = Target{Contact: outreach.Contact{ID: int64(i + 1), Tier: "medium", Status: outreach.StatusActive},
			History:     []cadence.Event{{ID: id, At: slot, Priority: prio, Reserved: true}},
			LowerExpiry: map[int64]time.Time{id: expires}, ReservedBy: map[int64]int64{id: owner}}
	}
	return out
}

func forecast(p *Planner, run Run, targets []Target, now time.Time) *Forecast {
	f := NewForecast(run.FireAt)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, t := range targets {
		f.Add(t, p.Plan(run, t, now, rng))
	}
	f.Done()
	return f
}

// TestForecastShowsPreemption is the case from the console issue: a
// priority-90 campaign over 100 contacts whose only weekly slot (the
// window's opening at 08:00) a priority-10 campaign had reserved. The
// 90 takes every slot; the 10's deliveries have no other slot before
// their expiry and are preempted. The forecast says so, per campaign and
// tier, besides the 90's own deferral to the window.
func TestForecastShowsPreemption(t *testing.T) {
	now := time.Date(2026, 3, 10, 2, 30, 0, 0, time.UTC) // the window opens at 08:00
	slot := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	targets := reservedBy(100, 7, 10, slot, now.Add(12*time.Hour))
	run := Run{Campaign: outreach.Campaign{ID: 8, Topic: "news", Category: outreach.Marketing, Priority: 90}, FireAt: now}
	f := forecast(weekly(), run, targets, now)

	require.Equal(t, 100, f.Contacts)
	tf := f.Tiers["medium"]
	require.Equal(t, 100, tf.Deferred, "the 90 waits for the window, in the slot it takes")
	require.Zero(t, tf.Now+tf.Expired)
	require.Equal(t, map[outreach.Reason]int{outreach.ReasonDeferredSendWindow: 100}, f.Reasons)
	require.Len(t, tf.Rules, 1)
	require.Equal(t, outreach.ReasonDeferredSendWindow, tf.Rules[0].Reason)
	require.True(t, strings.HasPrefix(tf.Rules[0].Rule, "send_window"), tf.Rules[0].Rule)
	require.Equal(t, 100, tf.Deferrals[1].Count, "5h30 (and up to a minute of jitter) to 08:00: the 6h bar")
	require.Equal(t, 100, f.Deferred[1].Count)

	d := f.Displaces()
	require.Len(t, d, 1)
	require.Equal(t, Displacement{CampaignID: 7, Priority: 10, Count: 100, Preempted: 100,
		Reasons: map[outreach.Reason]int{outreach.ReasonPreempted: 100},
		Tiers:   map[string]*DisplacedTier{"medium": {Count: 100, Preempted: 100}}}, d[0])
}

// TestForecastReplannedAndUntouched: displaced deliveries that still fit
// before their expiry are re-planned (a week on, by the cap); an equal or
// higher priority is never displaced, and the run defers instead.
func TestForecastReplannedAndUntouched(t *testing.T) {
	now := time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)
	slot := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	p := weekly()
	run := Run{Campaign: outreach.Campaign{ID: 8, Topic: "news", Category: outreach.Marketing, Priority: 60}, FireAt: now,
		ExpiresAt: now.Add(30 * 24 * time.Hour)}

	targets := append(reservedBy(3, 7, 10, slot, time.Time{}), reservedBy(2, 9, 20, slot, slot.Add(time.Hour))...)
	f := forecast(p, run, targets, now)
	d := f.Displaces()
	require.Len(t, d, 2)
	require.Equal(t, int64(7), d[0].CampaignID, "most displaced first")
	require.Equal(t, 3, d[0].Replanned, "no expiry: moved a week on")
	require.Equal(t, map[outreach.Reason]int{outreach.ReasonDeferredCap: 3}, d[0].Reasons)
	require.Equal(t, int64(9), d[1].CampaignID)
	require.Equal(t, 2, d[1].Preempted)
	require.Equal(t, 20, d[1].Priority)

	same := reservedBy(4, 7, 60, slot, time.Time{})
	f = forecast(p, run, same, now)
	require.Empty(t, f.Displaces(), "an equal priority keeps its slot")
	tf := f.Tiers["medium"]
	require.Equal(t, 4, tf.Deferred)
	require.Equal(t, []RuleCount{{Reason: outreach.ReasonDeferredCap, Rule: "cap 1/7d", Count: 4}}, tf.Rules)
	require.Equal(t, 4, tf.Deferrals[5].Count, "a week and six hours on: the 30d bar")
}

// TestForecastCountsSkipsAndExpiry: skipped by reason (no rule), expired
// with the rule that pushed it out, rules most first, tiers apart.
func TestForecastCountsSkipsAndExpiry(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	p := weekly()
	run := Run{Campaign: outreach.Campaign{ID: 8, Topic: "news", Category: outreach.Marketing, Priority: 50}, FireAt: now,
		ExpiresAt: now.Add(24 * time.Hour)}
	active := outreach.Contact{Tier: "medium", Status: outreach.StatusActive}
	gone := outreach.Contact{Tier: "medium", Status: outreach.StatusUnsubscribed}
	sent := []cadence.Event{{ID: 1, At: now.Add(-24 * time.Hour)}}
	targets := []Target{{Contact: active}, {Contact: active}, {Contact: gone}, {Contact: active, History: sent},
		{Contact: active, History: sent}, {Contact: active, History: sent}}
	f := forecast(p, run, targets, now)
	tf := f.Tiers["medium"]
	require.Equal(t, 2, tf.Now)
	require.Equal(t, 3, tf.Expired)
	require.Equal(t, map[outreach.Reason]int{outreach.ReasonUnsubscribed: 1}, tf.Skipped)
	require.Equal(t, []RuleCount{{Reason: outreach.ReasonExpired, Rule: "cap 1/7d", Count: 3},
		{Reason: outreach.ReasonUnsubscribed, Count: 1}}, tf.Rules)
	require.Equal(t, 6, tf.Contacts)
	for _, b := range f.Deferred {
		require.Zero(t, b.Count)
	}
	require.Len(t, f.Deferred, 7)
	require.Equal(t, "later", f.Deferred[6].Label)
}

// TestForecastScale: a sample's counts made into the audience's, none
// that the sample saw lost to rounding.
func TestForecastScale(t *testing.T) {
	now := time.Date(2026, 3, 10, 2, 30, 0, 0, time.UTC)
	slot := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	targets := reservedBy(10, 7, 10, slot, now.Add(12*time.Hour))
	targets = append(targets, Target{Contact: outreach.Contact{Tier: "medium", Status: outreach.StatusUnsubscribed}})
	run := Run{Campaign: outreach.Campaign{ID: 8, Topic: "news", Category: outreach.Marketing, Priority: 90}, FireAt: now}
	f := forecast(weekly(), run, targets, now)
	f.Scale(100, 1100)
	require.Equal(t, 1100, f.Contacts)
	tf := f.Tiers["medium"]
	require.Equal(t, 1000, tf.Deferred)
	require.Equal(t, 100, tf.Skipped[outreach.ReasonUnsubscribed])
	require.Equal(t, 1000, f.Reasons[outreach.ReasonDeferredSendWindow])
	require.Equal(t, 1000, tf.Rules[0].Count)
	require.Equal(t, 1000, f.Deferred[1].Count)
	d := f.Displaces()[0]
	require.Equal(t, 1000, d.Preempted)
	require.Equal(t, 1000, d.Tiers["medium"].Count)

	f = forecast(weekly(), run, targets, now)
	f.Scale(0.01, 1)
	require.Equal(t, 1, f.Tiers["medium"].Skipped[outreach.ReasonUnsubscribed], "seen once: kept")
	require.Zero(t, f.Tiers["medium"].Expired)
}

func TestEstimateAudience(t *testing.T) {
	require.Equal(t, 500, EstimateAudience(1000, []Window{{Span: 100, Found: 50}, {Span: 100, Found: 50}}))
	require.Equal(t, 250, EstimateAudience(1000, []Window{{Span: 200, Found: 50}}))
	require.Equal(t, 3, EstimateAudience(1000, []Window{{Found: 3}}), "nothing spanned: what was found")
}
