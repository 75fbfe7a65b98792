package insight

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// simulated is one delivery of a history the test makes up by planning
// campaign runs through the cadence engine the way the planner does.
type simulated struct {
	d  Delivery
	at time.Time // planned moment while scheduled
}

// simulate plans runs (fire times ascending) for one contact under rule,
// as the planner would: at each firing, earlier scheduled messages whose
// moment has passed are sent; the new message is placed with priority
// arbitration (cadence.Place), displaced reservations are moved or
// skipped as preempted. Some runs find the contact paused or opted out:
// skipped without asking the engine. At horizon, due messages are sent.
func simulate(r *rand.Rand, rule outreach.Rule, loc *time.Location, start, horizon time.Time, runs int) []Delivery {
	var ds []*simulated
	fire := start
	settle := func(now time.Time) {
		for _, s := range ds {
			if s.d.State == outreach.DeliveryScheduled && !s.at.After(now) {
				sent := s.at
				s.d.State, s.d.Reason, s.d.SentAt = outreach.DeliverySent, outreach.ReasonSent, &sent
			}
		}
	}
	for i := range runs {
		fire = fire.Add(time.Duration(r.Int64N(int64(4 * 24 * time.Hour))))
		if !fire.Before(horizon) {
			break
		}
		settle(fire)
		d := Delivery{ID: int64(i + 1), CampaignID: int64(1 + r.IntN(4)), Priority: r.IntN(4) * 25, PlannedAt: fire,
			NotBefore: fire, State: outreach.DeliverySkipped}
		if r.IntN(3) > 0 {
			d.ExpiresAt = fire.Add(time.Duration(1+r.IntN(10)) * 24 * time.Hour)
		}
		if r.IntN(8) == 0 {
			d.Reason = []outreach.Reason{outreach.ReasonPaused, outreach.ReasonTopicOptOut, outreach.ReasonUnsubscribed}[r.IntN(3)]
			ds = append(ds, &simulated{d: d})
			continue
		}
		var hist []cadence.Event
		lower := map[int64]time.Time{}
		for _, s := range ds {
			switch s.d.State {
			case outreach.DeliverySent:
				hist = append(hist, cadence.Event{ID: s.d.ID, At: *s.d.SentAt, Priority: s.d.Priority})
			case outreach.DeliveryScheduled:
				hist = append(hist, cadence.Event{ID: s.d.ID, At: s.at, Priority: s.d.Priority, Reserved: true})
				lower[s.d.ID] = s.d.ExpiresAt
			}
		}
		dec, displaced := cadence.Place(cadence.Request{Rule: rule, Location: loc, History: hist, Now: fire, NotBefore: fire,
			ExpiresAt: d.ExpiresAt, Priority: d.Priority}, lower, nil, 0)
		for _, m := range displaced {
			for _, s := range ds {
				if s.d.ID != m.ID {
					continue
				}
				if m.Expired {
					s.d.State, s.d.Reason = outreach.DeliverySkipped, outreach.ReasonPreempted
				} else {
					s.at, s.d.PlannedFor, s.d.Reason = m.At, m.At, m.Reason
				}
			}
		}
		if dec.Reason == outreach.ReasonExpired {
			d.Reason = outreach.ReasonExpired
		} else {
			d.State, d.Reason, d.PlannedFor = outreach.DeliveryScheduled, dec.Reason, dec.At
		}
		ds = append(ds, &simulated{d: d, at: dec.At})
	}
	settle(horizon)
	out := make([]Delivery, len(ds))
	for i, s := range ds {
		out[i] = s.d
	}
	return out
}

func randomRule(r *rand.Rand) outreach.Rule {
	day := 24 * time.Hour
	rule := outreach.Rule{SendWindow: outreach.AlwaysOpen}
	for range 1 + r.IntN(2) {
		rule.Caps = append(rule.Caps, outreach.Cap{Max: 1 + r.IntN(3), Window: outreach.Duration(time.Duration(1+r.IntN(14)) * day)})
	}
	if r.IntN(2) == 0 {
		rule.MinGap = time.Duration(r.IntN(72)) * time.Hour
	}
	if r.IntN(2) == 0 {
		rule.SendWindow = outreach.SendWindow{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
			Start: 8 * 60, End: 20 * 60}
	}
	return rule
}

// TestReplayReproducesRecordedOutcomes is the replay's property: for
// histories planned with the rule in force, replaying that same rule
// sends exactly the messages that were sent, at the same moments.
func TestReplayReproducesRecordedOutcomes(t *testing.T) {
	t.Parallel()
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"}
	for seed := range uint64(400) {
		r := rand.New(rand.NewPCG(seed, 7))
		rule := randomRule(r)
		loc, _ := outreach.LoadZone(zones[r.IntN(len(zones))])
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(int64(300 * 24 * time.Hour))))
		horizon := start.Add(90 * 24 * time.Hour)
		ds := simulate(r, rule, loc, start, horizon, 5+r.IntN(40))
		outs := Replay(rule, History{ContactID: 1, Location: loc, Deliveries: ds}, horizon)
		require.Len(t, outs, len(ds))
		for _, o := range outs {
			d := o.Delivery
			sent := o.Fate == FateSent
			require.Equal(t, d.RecordedSent(), sent, "seed %d delivery %d (%s/%s): replayed %v", seed, d.ID, d.State, d.Reason, o.Fate)
			if sent {
				require.True(t, o.At.Equal(*d.SentAt), "seed %d delivery %d: at %v, recorded %v", seed, d.ID, o.At, *d.SentAt)
			}
			if d.State == outreach.DeliveryScheduled {
				require.Equal(t, FatePending, o.Fate, "seed %d delivery %d", seed, d.ID)
			}
		}
	}
}

func TestReplayLooserAndStricter(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	t0 := time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC)
	weekly := outreach.Rule{Caps: []outreach.Cap{{Max: 1, Window: outreach.Duration(7 * day)}}, SendWindow: outreach.AlwaysOpen}
	daily := outreach.Rule{Caps: []outreach.Cap{{Max: 1, Window: outreach.Duration(day)}}, SendWindow: outreach.AlwaysOpen}
	// Three campaigns two days apart, each expiring after a day: weekly
	// sends the first and lets the other two expire.
	var ds []Delivery
	for i := range 3 {
		at := t0.Add(time.Duration(2*i) * day)
		ds = append(ds, Delivery{ID: int64(i + 1), CampaignID: int64(i + 1), PlannedAt: at, NotBefore: at, ExpiresAt: at.Add(day)})
	}
	h := History{ContactID: 9, Deliveries: ds}
	fates := func(rule outreach.Rule) []Fate {
		var out []Fate
		for _, o := range Replay(rule, h, t0.Add(30*day)) {
			out = append(out, o.Fate)
		}
		return out
	}
	require.Equal(t, []Fate{FateSent, FateExpired, FateExpired}, fates(weekly))
	require.Equal(t, []Fate{FateSent, FateSent, FateSent}, fates(daily))

	rp := NewReplayer(daily, t0.Add(30*day))
	ds[0].State, ds[0].Reason, ds[0].PlannedFor, ds[0].SentAt = outreach.DeliverySent, outreach.ReasonSent, t0, &t0
	ds[1].State, ds[1].Reason = outreach.DeliverySkipped, outreach.ReasonExpired
	ds[2].State, ds[2].Reason = outreach.DeliverySkipped, outreach.ReasonPaused
	rp.Add(History{ContactID: 9, Deliveries: ds})
	res := rp.Result()
	require.Equal(t, Tally{Sent: 1, Expired: 1, Skipped: 1}, res.Before)
	require.Equal(t, Tally{Sent: 2, Skipped: 1}, res.After, "the paused delivery stays skipped")
	require.Equal(t, Change{More: 1, MoreIDs: []int64{9}}, res.Change)
	require.Equal(t, 1, res.HistogramBefore[Bucket(1)])
	require.Equal(t, 1, res.HistogramAfter[Bucket(2)])
	require.Len(t, res.Campaigns, 3)
}

func TestPeakIn(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := 24 * time.Hour
	ts := []time.Time{t0.Add(40 * d), t0, t0.Add(10 * d), t0.Add(30 * d), t0.Add(35 * d)}
	require.Equal(t, 3, PeakIn(ts, 30*d)) // day 10, 30, 35 (day 0 and 30 are exactly 30 days apart)
	require.Equal(t, 0, PeakIn(nil, 30*d))
}
