package webhook

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoffNominalSchedule(t *testing.T) {
	want := []time.Duration{
		5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 8 * time.Hour, 8 * time.Hour,
	}
	if len(want) != MaxAttempts-1 {
		t.Fatalf("schedule has %d delays, MaxAttempts %d needs %d", len(want), MaxAttempts, MaxAttempts-1)
	}
	for i, w := range want {
		if got := Backoff(i+1, nil); got != w {
			t.Errorf("Backoff(%d, nil) = %v, want %v", i+1, got, w)
		}
	}
	for _, tt := range []struct {
		attempt int
		want    time.Duration
	}{{0, 5 * time.Second}, {-3, 5 * time.Second}, {12, MaxBackoff}, {100, MaxBackoff}, {int(^uint(0) >> 1), MaxBackoff}} {
		if got := Backoff(tt.attempt, nil); got != tt.want {
			t.Errorf("Backoff(%d, nil) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
}

// TestBackoffJitterBounds: every jittered delay stays within ±20% of its
// nominal value and never above MaxBackoff, and jitter actually varies.
func TestBackoffJitterBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for attempt := 1; attempt <= MaxAttempts+2; attempt++ {
		base := Backoff(attempt, nil)
		lo := time.Duration(float64(base) * 0.8)
		hi := min(time.Duration(float64(base)*1.2), MaxBackoff)
		distinct := map[time.Duration]bool{}
		for range 2000 {
			d := Backoff(attempt, rng)
			if d < lo || d > hi {
				t.Fatalf("Backoff(%d) = %v, outside [%v, %v]", attempt, d, lo, hi)
			}
			distinct[d] = true
		}
		if len(distinct) < 100 {
			t.Errorf("Backoff(%d) took only %d distinct values in 2000 draws", attempt, len(distinct))
		}
	}
}

// TestBackoffScheduleCoversADay: the waits between the MaxAttempts
// attempts add up to at least 24 hours for every draw, so an endpoint down
// for a day still gets each event; and to at most 34 hours, so an event is
// not retried for days.
func TestBackoffScheduleCoversADay(t *testing.T) {
	var nominal, floor time.Duration
	for a := 1; a < MaxAttempts; a++ {
		nominal += Backoff(a, nil)
		floor += time.Duration(float64(Backoff(a, nil)) * 0.8)
	}
	if want := 31*time.Hour + 42*time.Minute + 35*time.Second; nominal != want {
		t.Errorf("nominal total = %v, want %v (the documented schedule)", nominal, want)
	}
	if floor < 24*time.Hour {
		t.Fatalf("worst-case total %v is under 24h", floor)
	}
	t.Logf("total wait over %d attempts: nominal %v, at least %v", MaxAttempts, nominal, floor)

	lo, hi := time.Duration(1<<62), time.Duration(0)
	for seed := range uint64(1000) {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		var sum time.Duration
		for a := 1; a < MaxAttempts; a++ {
			sum += Backoff(a, rng)
		}
		lo, hi = min(lo, sum), max(hi, sum)
	}
	if lo < 24*time.Hour || hi > 34*time.Hour {
		t.Fatalf("over 1000 seeds the total ranged %v to %v, want within [24h, 34h]", lo, hi)
	}
	t.Logf("over 1000 seeds: %v to %v", lo, hi)
}

func TestBackoffDeterministicWithSeed(t *testing.T) {
	seq := func() []time.Duration {
		rng := rand.New(rand.NewPCG(42, 7))
		var out []time.Duration
		for a := 1; a < MaxAttempts; a++ {
			out = append(out, Backoff(a, rng))
		}
		return out
	}
	a, b := seq(), seq()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different delay %d: %v vs %v", i+1, a[i], b[i])
		}
	}
}

func TestDisable(t *testing.T) {
	start := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		firstFailure time.Time
		now          time.Time
		want         bool
	}{
		{"not failing", time.Time{}, start.Add(365 * 24 * time.Hour), false},
		{"just started failing", start, start, false},
		{"failing a day", start, start.Add(24 * time.Hour), false},
		{"failing just under 3 days", start, start.Add(DisableAfter - time.Second), false},
		{"failing exactly 3 days", start, start.Add(DisableAfter), false},
		{"failing just over 3 days", start, start.Add(DisableAfter + time.Second), true},
		{"failing a week", start, start.Add(7 * 24 * time.Hour), true},
		{"first failure in the future (clock skew)", start.Add(time.Hour), start, false},
	}
	for _, tt := range tests {
		if got := Disable(tt.firstFailure, tt.now); got != tt.want {
			t.Errorf("%s: Disable = %v, want %v", tt.name, got, tt.want)
		}
	}
	if DisableAfter != 72*time.Hour {
		t.Errorf("DisableAfter = %v, documented as 3 days", DisableAfter)
	}
}

// TestDisableOutlastsOneEvent: an endpoint is never disabled while the
// first event that failed on it is still being retried, so the customer's
// endpoint has the event's whole schedule to recover before anything is
// switched off.
func TestDisableOutlastsOneEvent(t *testing.T) {
	var longest time.Duration
	for a := 1; a < MaxAttempts; a++ {
		longest += min(time.Duration(float64(Backoff(a, nil))*1.2), MaxBackoff)
	}
	if longest >= DisableAfter {
		t.Fatalf("one event's retries can last %v, not less than DisableAfter %v", longest, DisableAfter)
	}
}
