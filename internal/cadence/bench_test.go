package cadence

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// benchRequest is the planner's typical call: a medium-tier rule, a contact
// in Berlin, two messages in the history.
func benchRequest(b *testing.B, history ...Event) Request {
	return Request{
		Rule: outreach.Rule{
			Caps:       []outreach.Cap{capOf(1, 7*day), capOf(3, 30*day)},
			MinGap:     2 * day,
			SendWindow: outreach.SendWindow{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, Start: 9 * 60, End: 20 * 60},
		},
		Location:  mustZone(b, "Europe/Berlin"),
		History:   history,
		Now:       now,
		ExpiresAt: now.Add(14 * day),
		Priority:  50,
	}
}

// BenchmarkDecide measures the planner's hot path with two history events:
// "free" can go now, "deferred" waits for a cap and is jittered.
func BenchmarkDecide(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	b.Run("free", func(b *testing.B) {
		req := benchRequest(b, sent(now.Add(-20*day)), sent(now.Add(-10*day)))
		b.ReportAllocs()
		for b.Loop() {
			Decide(req, rng, 6*time.Hour)
		}
	})
	b.Run("deferred", func(b *testing.B) {
		req := benchRequest(b, sent(now.Add(-3*day)), reserved(1, now.Add(2*day), 10))
		b.ReportAllocs()
		for b.Loop() {
			Decide(req, rng, 6*time.Hour)
		}
	})
	b.Run("deferred_window", func(b *testing.B) {
		req := benchRequest(b, sent(now.Add(-20*day)), sent(now.Add(-10*day)))
		req.Now = time.Date(2026, 6, 5, 19, 0, 0, 0, time.UTC) // Friday 21:00 in Berlin
		b.ReportAllocs()
		for b.Loop() {
			Decide(req, rng, 6*time.Hour)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	req := benchRequest(b, sent(now.Add(-20*day)), sent(now.Add(-10*day)))
	b.ReportAllocs()
	for b.Loop() {
		Check(req)
	}
}
