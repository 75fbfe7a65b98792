package planner

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
)

func tiers() map[string]outreach.Tier {
	day := 24 * time.Hour
	open := outreach.AlwaysOpen
	return map[string]outreach.Tier{
		"low":  {Key: "low", Rank: 10, Rule: outreach.Rule{Caps: []outreach.Cap{{Max: 1, Window: outreach.Duration(30 * day)}}, SendWindow: open}},
		"high": {Key: "high", Rank: 30, Rule: outreach.Rule{Caps: []outreach.Cap{{Max: 1, Window: outreach.Duration(day)}}, SendWindow: open}},
	}
}

func TestPlanDecisions(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	p := &Planner{Tiers: tiers(), DefaultZone: time.UTC, Spread: time.Minute}
	marketing := Run{Campaign: outreach.Campaign{ID: 1, Topic: "offers", Category: outreach.Marketing, Priority: 50}, FireAt: now, ExpiresAt: now.Add(48 * time.Hour)}
	transactional := Run{Campaign: outreach.Campaign{ID: 2, Category: outreach.Transactional}, FireAt: now}
	later := now.Add(time.Hour)
	active := outreach.Contact{ID: 1, Tier: "high", Status: outreach.StatusActive}
	sentAnHourAgo := []cadence.Event{{ID: 9, At: now.Add(-time.Hour)}}
	rng := rand.New(rand.NewPCG(1, 2))

	cases := []struct {
		name   string
		run    Run
		target Target
		state  outreach.DeliveryState
		reason outreach.Reason
		tier   string
	}{
		{"free slot", marketing, Target{Contact: active}, outreach.DeliveryScheduled, outreach.ReasonScheduled, "high"},
		{"cap defers", marketing, Target{Contact: active, History: sentAnHourAgo}, outreach.DeliveryScheduled, outreach.ReasonDeferredCap, "high"},
		{"preferred tier is stricter", marketing, Target{Contact: outreach.Contact{Tier: "high", PreferredTier: "low", Status: outreach.StatusActive},
			History: []cadence.Event{{At: now.Add(-5 * 24 * time.Hour)}}}, outreach.DeliverySkipped, outreach.ReasonExpired, "low"},
		{"preferred tier cannot ask for more", marketing, Target{Contact: outreach.Contact{Tier: "low", PreferredTier: "high", Status: outreach.StatusActive}}, outreach.DeliveryScheduled, outreach.ReasonScheduled, "low"},
		{"unsubscribed", marketing, Target{Contact: outreach.Contact{Tier: "high", Status: outreach.StatusUnsubscribed}}, outreach.DeliverySkipped, outreach.ReasonUnsubscribed, "high"},
		{"topic opt-out", marketing, Target{Contact: outreach.Contact{Tier: "high", Status: outreach.StatusActive, TopicsOptedOut: []string{"offers"}}}, outreach.DeliverySkipped, outreach.ReasonTopicOptOut, "high"},
		{"paused", marketing, Target{Contact: outreach.Contact{Tier: "high", Status: outreach.StatusActive, PausedUntil: &later}}, outreach.DeliverySkipped, outreach.ReasonPaused, "high"},
		{"bounce suppression", marketing, Target{Contact: active, Suppression: outreach.SuppressBounce}, outreach.DeliverySkipped, outreach.ReasonSuppressedBounce, "high"},
		{"transactional ignores caps and opt-outs", transactional, Target{Contact: outreach.Contact{Tier: "high", Status: outreach.StatusUnsubscribed, TopicsOptedOut: []string{"offers"}}, History: sentAnHourAgo}, outreach.DeliveryScheduled, outreach.ReasonScheduled, "high"},
		{"transactional respects complaints", transactional, Target{Contact: outreach.Contact{Tier: "high", Status: outreach.StatusComplained}}, outreach.DeliverySkipped, outreach.ReasonSuppressedComplaint, "high"},
		{"transactional respects erasure", transactional, Target{Contact: active, Suppression: outreach.SuppressErased}, outreach.DeliverySkipped, outreach.ReasonUnsubscribed, "high"},
		{"unknown tier: never uncapped", marketing, Target{Contact: outreach.Contact{Tier: "gone", Status: outreach.StatusActive}}, outreach.DeliverySkipped, outreach.ReasonNoTier, "gone"},
		{"unknown tier with a known preference", marketing, Target{Contact: outreach.Contact{Tier: "gone", PreferredTier: "low", Status: outreach.StatusActive}}, outreach.DeliverySkipped, outreach.ReasonNoTier, "gone"},
		{"unknown tier, unsubscribed: the block says why", marketing, Target{Contact: outreach.Contact{Tier: "gone", Status: outreach.StatusUnsubscribed}}, outreach.DeliverySkipped, outreach.ReasonUnsubscribed, "gone"},
		{"transactional has no cadence, tier or not", transactional, Target{Contact: outreach.Contact{Tier: "gone", Status: outreach.StatusActive}}, outreach.DeliveryScheduled, outreach.ReasonScheduled, "gone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := p.Plan(tc.run, tc.target, now, rng)
			require.Equal(t, tc.state, o.State)
			require.Equal(t, tc.reason, o.Reason)
			require.Equal(t, tc.tier, o.Tier)
			if o.State == outreach.DeliveryScheduled {
				require.False(t, o.PlannedFor.Before(now))
			}
		})
	}
}

func TestPlanPreemptsLowerPriority(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	p := &Planner{Tiers: tiers(), DefaultZone: time.UTC}
	reserved := []cadence.Event{{ID: 5, At: now.Add(time.Minute), Priority: 10, Reserved: true}}
	urgent := Run{Campaign: outreach.Campaign{Topic: "offers", Category: outreach.Marketing, Priority: 90}, FireAt: now}
	o := p.Plan(urgent, Target{Contact: outreach.Contact{Tier: "high", Status: outreach.StatusActive}, History: reserved,
		LowerExpiry: map[int64]time.Time{5: now.Add(2 * time.Hour)}}, now, nil)
	require.Equal(t, outreach.ReasonScheduled, o.Reason, "the higher priority takes the slot")
	require.Len(t, o.Displaced, 1)
	require.Equal(t, int64(5), o.Displaced[0].ID)
	require.True(t, o.Displaced[0].Expired, "the displaced one would expire: preempted")
	require.Equal(t, outreach.ReasonPreempted, o.Displaced[0].Reason)
}

func TestKnows(t *testing.T) {
	p := &Planner{Tiers: tiers()}
	require.True(t, p.Knows(outreach.Contact{Tier: "high"}))
	require.True(t, p.Knows(outreach.Contact{Tier: "high", PreferredTier: "low"}))
	require.False(t, p.Knows(outreach.Contact{Tier: "new"}), "assigned tier unknown")
	require.False(t, p.Knows(outreach.Contact{Tier: "high", PreferredTier: "new"}), "a stricter new preference would be ignored")
}
