package webhook

import (
	"math/rand/v2"
	"time"
)

// MaxAttempts is how many times one event is offered to an endpoint: the
// first delivery plus 11 retries. With the delays Backoff returns, the last
// attempt comes between 25h22m04s and 33h15m06s after the first (31h42m35s
// without jitter), so an endpoint that is down for a whole day still
// receives the event. After attempt MaxAttempts fails the event is
// abandoned for that endpoint.
const MaxAttempts = 12

// MaxBackoff caps every delay, so a recovered endpoint waits at most this
// long for its next attempt, and caps Retry-After so a receiver cannot park
// deliveries indefinitely.
const MaxBackoff = 8 * time.Hour

// DisableAfter is how long an endpoint may fail continuously before
// Disable says to stop sending to it. Three days is longer than any one
// event's retries (at most 33h15m), so an endpoint is only disabled after
// several events have each exhausted their attempts, and long enough to
// ride out a weekend outage; the customer is expected to be notified.
const DisableAfter = 72 * time.Hour

// jitter is the fraction by which Backoff spreads each delay, either way,
// so that deliveries that failed together (one outage) do not all retry in
// the same second and knock the recovering endpoint over again.
const jitter = 0.2

// baseDelays[i] is the nominal delay after attempt i+1 fails. Attempts past
// the table wait MaxBackoff.
var baseDelays = [...]time.Duration{
	5 * time.Second,  // after attempt 1
	30 * time.Second, // 2
	2 * time.Minute,  // 3
	10 * time.Minute, // 4
	30 * time.Minute, // 5
	1 * time.Hour,    // 6
	2 * time.Hour,    // 7
	4 * time.Hour,    // 8
	8 * time.Hour,    // 9
	8 * time.Hour,    // 10
	8 * time.Hour,    // 11; attempt 12 (MaxAttempts) is the last
}

// Backoff returns how long to wait after attempt number attempt (1 for the
// first delivery) failed before making attempt+1. The nominal schedule is
//
//	after attempt:  1   2    3   4    5    6   7   8   9   10  11
//	delay:          5s  30s  2m  10m  30m  1h  2h  4h  8h  8h  8h
//
// for a nominal total of 31h42m35s over MaxAttempts. Each delay is
// multiplied by a factor drawn uniformly from [0.8, 1.2) using rng, then
// capped at MaxBackoff, so the total is at least 25h22m04s: every event is
// retried for more than 24 hours. A nil rng gives the nominal delay, for
// display. attempt below 1 counts as 1; attempts past the table wait
// MaxBackoff (jittered), though callers stop at MaxAttempts.
//
// It is a pure function of its arguments so a seeded rng makes it
// reproducible in tests; the caller owns rng (a *rand.Rand is not safe for
// concurrent use).
func Backoff(attempt int, rng *rand.Rand) time.Duration {
	base := MaxBackoff
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= len(baseDelays) {
		base = baseDelays[attempt-1]
	}
	if rng == nil {
		return base
	}
	f := 1 - jitter + 2*jitter*rng.Float64()
	return min(time.Duration(float64(base)*f), MaxBackoff)
}

// Disable reports whether an endpoint whose current run of failures began
// at firstFailure should be disabled at now: when it has been failing
// continuously for more than DisableAfter. A zero firstFailure means the
// endpoint is not failing (its last attempt succeeded); the caller resets
// it on every success. A firstFailure after now (clock skew between
// workers) is not a reason to disable.
func Disable(firstFailure, now time.Time) bool {
	if firstFailure.IsZero() {
		return false
	}
	return now.Sub(firstFailure) > DisableAfter
}
