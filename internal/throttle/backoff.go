package throttle

import (
	"context"
	"math"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// backoff is a domain's slowed rate after "slow down" answers; nil is
// none.
type backoff = postgres.ThrottleBackoff

// rateAt is the back-off's rate at now, and false once it has climbed back
// to its ceiling (or there is none) and no longer limits.
func rateAt(b *backoff, now time.Time) (float64, bool) {
	if b == nil {
		return 0, false
	}
	r := b.PerSecond
	if !now.Before(b.Until) {
		steps := int64(now.Sub(b.Until)/b.Period) + 1
		if steps > 60 {
			return 0, false
		}
		r *= math.Exp2(float64(steps))
	}
	if r >= b.Ceiling {
		return 0, false
	}
	return r, true
}

// effectiveRate is a domain's rate at now: its configured rate (0: none),
// lowered by a back-off still in force.
func effectiveRate(configured float64, b *backoff, now time.Time) float64 {
	r, ok := rateAt(b, now)
	if !ok || (configured > 0 && configured < r) {
		return configured
	}
	return r
}

// SlowDown backs a recipient domain off after its server answered a 4xx
// "slow down" (421, 450, 451 … as the mailer classifies them), for every
// process: the domain's current effective rate is halved, held for
// Config.SlowPeriod, then doubled once per period until it is back at the
// rate it started from. It never goes below Config.SlowFloor (nor above
// where it started). Further calls within Config.SlowDebounce of a halving
// only extend the hold, since one batch's messages all hear the same answer.
//
// A domain with no rate of its own has been getting at most the global
// rate, so that is where it starts (Config.UnlimitedStart when the global
// rate is unlimited too) and where the back-off ends. Deriving it from the
// rate actually observed would need per-domain counts for every domain on
// the hot path; the global rate is a safe upper bound and the halving
// converges quickly from it.
//
// It returns the domain's new rate.
func (l *Limiter) SlowDown(ctx context.Context, now time.Time, domain string) (float64, error) {
	d, ok := NormalizeDomain(domain)
	if !ok {
		return 0, outreach.Invalid(outreach.FieldError{Field: "domain", Message: "not a valid domain name"})
	}
	key := domainPrefix + d
	var rate float64
	err := l.store.ThrottleSlowDown(ctx, key, func(st postgres.ThrottleSlowState) postgres.ThrottleBackoff {
		ceiling := st.PerSecond
		if ceiling <= 0 {
			ceiling = st.GlobalPerSecond
		}
		if ceiling <= 0 {
			ceiling = l.cfg.UnlimitedStart
		}
		prev := st.Backoff
		current := effectiveRate(st.PerSecond, prev, now)
		if current <= 0 {
			current = ceiling
		}
		at := now
		rate = current / 2
		if _, active := rateAt(prev, now); active && now.Sub(prev.At) < l.cfg.SlowDebounce && !now.Before(prev.At) {
			at, rate = prev.At, current // the same episode: hold, do not halve again
		}
		rate = max(rate, min(l.cfg.SlowFloor, ceiling))
		return postgres.ThrottleBackoff{PerSecond: rate, At: at, Until: now.Add(l.cfg.SlowPeriod), Ceiling: ceiling, Period: l.cfg.SlowPeriod}
	})
	if err != nil {
		return 0, err
	}
	l.slowed.Add(1)
	return rate, nil
}

// Rate returns a domain's effective rate at now (0: no limit of its own),
// the configured rate lowered by any back-off in force, for the admin API
// and for tests.
func (l *Limiter) Rate(ctx context.Context, now time.Time, domain string) (float64, error) {
	d, ok := NormalizeDomain(domain)
	if !ok {
		return 0, outreach.Invalid(outreach.FieldError{Field: "domain", Message: "not a valid domain name"})
	}
	per, b, found, err := l.store.ThrottleState(ctx, domainPrefix+d)
	if err != nil || !found {
		return 0, err
	}
	return effectiveRate(per, b, now), nil
}
