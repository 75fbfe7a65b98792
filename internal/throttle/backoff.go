package throttle

import (
	"context"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
)

// backoff is a domain's slowed rate after "slow down" answers.
type backoff struct {
	rate    float64       // the halved rate
	at      time.Time     // when it was last halved
	until   time.Time     // it holds until then, then doubles once per period
	ceiling float64       // the rate it climbs back to; it ends there
	period  time.Duration // time between doublings
}

func backoffOf(rate *float64, at, until *time.Time, ceiling *float64, periodMS *int64) *backoff {
	if rate == nil || at == nil || until == nil || ceiling == nil || periodMS == nil || *rate <= 0 || *periodMS <= 0 {
		return nil
	}
	return &backoff{rate: *rate, at: *at, until: *until, ceiling: *ceiling,
		period: time.Duration(*periodMS) * time.Millisecond}
}

// rateAt is the back-off's rate at now, and false once it has climbed back
// to its ceiling (or there is none) and no longer limits.
func (b *backoff) rateAt(now time.Time) (float64, bool) {
	if b == nil {
		return 0, false
	}
	r := b.rate
	if !now.Before(b.until) {
		steps := int64(now.Sub(b.until)/b.period) + 1
		if steps > 60 {
			return 0, false
		}
		r *= math.Exp2(float64(steps))
	}
	if r >= b.ceiling {
		return 0, false
	}
	return r, true
}

// effectiveRate is a domain's rate at now: its configured rate (0: none),
// lowered by a back-off still in force.
func effectiveRate(configured float64, b *backoff, now time.Time) float64 {
	r, ok := b.rateAt(now)
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
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		q := dbsqlc.New(tx)
		if err := q.ThrottleBucketsEnsure(ctx, []string{key}); err != nil {
			return err
		}
		row, err := q.ThrottleBackoffLoad(ctx, key)
		if err != nil {
			return err
		}
		ceiling := row.PerSecond
		if ceiling <= 0 {
			ceiling = row.GlobalPerSecond
		}
		if ceiling <= 0 {
			ceiling = l.cfg.UnlimitedStart
		}
		prev := backoffOf(row.SlowedPerSecond, row.SlowedAt, row.SlowedUntil, row.SlowCeiling, row.SlowPeriodMs)
		current := effectiveRate(row.PerSecond, prev, now)
		if current <= 0 {
			current = ceiling
		}
		at := now
		rate = current / 2
		if _, active := prev.rateAt(now); active && now.Sub(prev.at) < l.cfg.SlowDebounce && !now.Before(prev.at) {
			at, rate = prev.at, current // the same episode: hold, do not halve again
		}
		rate = max(rate, min(l.cfg.SlowFloor, ceiling))
		until := now.Add(l.cfg.SlowPeriod)
		periodMS := l.cfg.SlowPeriod.Milliseconds()
		return q.ThrottleBackoffSave(ctx, dbsqlc.ThrottleBackoffSaveParams{
			Key: key, SlowedPerSecond: &rate, SlowedAt: &at, SlowedUntil: &until,
			SlowCeiling: &ceiling, SlowPeriodMs: &periodMS,
		})
	})
	if err != nil {
		return 0, postgres.MapError("slow down "+d, err)
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
	rows, err := dbsqlc.New(l.pool).ThrottleBackoffGet(ctx, domainPrefix+d)
	if err != nil {
		return 0, postgres.MapError("throttle rate "+d, err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	r := rows[0]
	return effectiveRate(r.PerSecond, backoffOf(r.SlowedPerSecond, r.SlowedAt, r.SlowedUntil, r.SlowCeiling, r.SlowPeriodMs), now), nil
}
