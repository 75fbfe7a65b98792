// Package throttle keeps sends under the configured rates — a global rate
// and per-recipient-domain rates (SPEC point 7) — across every worker
// process at once. The limits live in PostgreSQL, not in memory: each
// process reserves send slots in shared calendars under row locks, so the
// sum of what all processes send respects the rates, and an admin's change
// or a server's "slow down" is seen by all of them at their next batch.
//
// A reservation never drops a message: it answers when each message may go.
// Workers that would have to wait long use ReserveWithin and snooze their
// River job instead of holding a worker slot while sleeping.
//
// Every method takes the time from its caller (or from the Limiter's clock),
// never from the database's now(), so tests can run on a fake clock.
package throttle

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// Limits on settings, checked by Put.
const (
	// MaxPerSecond is the highest rate accepted: far above what one SMTP
	// relay takes, low enough that a typo (an extra zero or two) stands out.
	MaxPerSecond = 1_000_000
	// MinPerSecond is the lowest non-zero rate, one message per 100 s. Slower
	// limits would make a reservation walk a calendar of hours.
	MinPerSecond = 0.01
	// MaxDomains bounds the per-domain rates, which are read on every batch.
	MaxDomains = 1000
)

// Config tunes the back-off after "slow down" answers. The zero value of
// each field picks its default.
type Config struct {
	// SlowPeriod is how long a halved rate holds before it starts to double
	// back, one doubling per period, toward the configured rate. Default 5m.
	SlowPeriod time.Duration
	// SlowFloor is the lowest rate a back-off goes down to, so a domain that
	// keeps answering 4xx still receives mail. Default 1/s.
	SlowFloor float64
	// SlowDebounce is the time after a halving during which further "slow
	// down" answers only extend the back-off: the messages of one batch all
	// get the same answer and must not halve the rate once each. Default 5s.
	SlowDebounce time.Duration
	// UnlimitedStart is the rate a domain with no rate of its own is assumed
	// to have received when it first asks us to slow down and the global rate
	// is unlimited too. (With a global rate, that rate is assumed instead: it
	// is the most the domain can have received.) Default 100/s.
	UnlimitedStart float64
}

func (c Config) withDefaults() Config {
	if c.SlowPeriod <= 0 {
		c.SlowPeriod = 5 * time.Minute
	}
	if c.SlowFloor <= 0 {
		c.SlowFloor = 1
	}
	if c.SlowDebounce <= 0 {
		c.SlowDebounce = 5 * time.Second
	}
	if c.UnlimitedStart <= 0 {
		c.UnlimitedStart = 100
	}
	return c
}

// Limiter reserves send slots and manages the settings. It holds no state
// of its own beyond counters: any number of Limiters, in any number of
// processes, over the same database act as one.
type Limiter struct {
	store Store
	clock outreach.Clock
	cfg   Config

	reserved atomic.Int64 // messages given a slot
	waited   atomic.Int64 // sum over them of slot − now, in nanoseconds
	snoozed  atomic.Int64 // ReserveWithin calls that reserved nothing
	slowed   atomic.Int64 // SlowDown calls
}

// Store is where the rates and calendars live (postgres.Store).
type Store interface {
	ThrottleCalendars(ctx context.Context, keys []string, reserve func([]postgres.ThrottleBucket) ([]postgres.ThrottleBucket, error)) error
	ThrottleRates(ctx context.Context) ([]postgres.ThrottleRate, error)
	PutThrottleRates(ctx context.Context, actor string, rates []postgres.ThrottleRate, audit func(before []postgres.ThrottleRate) (b, a any)) ([]postgres.ThrottleRate, error)
	ThrottleSlowDown(ctx context.Context, key string, slow func(postgres.ThrottleSlowState) postgres.ThrottleBackoff) error
	ThrottleState(ctx context.Context, key string) (perSecond float64, b *postgres.ThrottleBackoff, found bool, err error)
}

// New returns a Limiter over the store. The clock dates settings changes;
// the reservation methods take their time as a parameter.
func New(store Store, clock outreach.Clock, cfg Config) *Limiter {
	if clock == nil {
		clock = outreach.SystemClock{}
	}
	return &Limiter{store: store, clock: clock, cfg: cfg.withDefaults()}
}

// Stats are counters since the Limiter was made, for metrics.
type Stats struct {
	Reserved int64         // messages given a slot
	Waited   time.Duration // total of (slot − now) over those messages
	Snoozed  int64         // ReserveWithin calls that reserved nothing
	SlowDown int64         // SlowDown calls
}

// Stats returns the counters.
func (l *Limiter) Stats() Stats {
	return Stats{Reserved: l.reserved.Load(), Waited: time.Duration(l.waited.Load()),
		Snoozed: l.snoozed.Load(), SlowDown: l.slowed.Load()}
}

// Settings are the configured rates, in messages per second; 0 means no
// limit. A domain's rate applies on top of the global one. Its JSON form is
// the admin API's: {"global_per_second": 200, "domains": {"gmail.com": 20}}.
type Settings struct {
	GlobalPerSecond float64            `json:"global_per_second"`
	Domains         map[string]float64 `json:"domains"`
	// UpdatedAt is when the settings were last changed (zero: never); Put
	// ignores it.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

const (
	globalKey    = "global"
	domainPrefix = "domain:"
)

// Get returns the current settings. Domains is never nil, so the API always
// answers an object.
func (l *Limiter) Get(ctx context.Context) (Settings, error) {
	rows, err := l.store.ThrottleRates(ctx)
	if err != nil {
		return Settings{}, err
	}
	return settingsFromRows(rows), nil
}

func settingsFromRows(rows []postgres.ThrottleRate) Settings {
	s := Settings{Domains: map[string]float64{}}
	for _, r := range rows {
		if r.UpdatedAt.After(s.UpdatedAt) {
			s.UpdatedAt = r.UpdatedAt
		}
		if r.Key == globalKey {
			s.GlobalPerSecond = r.PerSecond
		} else if d, ok := strings.CutPrefix(r.Key, domainPrefix); ok {
			s.Domains[d] = r.PerSecond
		}
	}
	return s
}

// Put replaces the settings with s and returns the ones it replaced. It
// validates s first (an *outreach.Error naming each bad field, such as
// "global_per_second" or "domains.gmail.com", and nothing written), lower-
// cases domain names, and records the change in the audit log in the same
// transaction. Reservations made after it commits use the new rates.
func (l *Limiter) Put(ctx context.Context, actor string, s Settings) (before Settings, err error) {
	norm, err := Normalize(s)
	if err != nil {
		return Settings{}, err
	}
	rates := []postgres.ThrottleRate{{Key: globalKey, PerSecond: norm.GlobalPerSecond}}
	for _, d := range sortedDomains(norm.Domains) {
		rates = append(rates, postgres.ThrottleRate{Key: domainPrefix + d, PerSecond: norm.Domains[d]})
	}
	rows, err := l.store.PutThrottleRates(ctx, actor, rates, func(before []postgres.ThrottleRate) (any, any) {
		return auditForm(settingsFromRows(before)), auditForm(norm)
	})
	if err != nil {
		return Settings{}, err
	}
	return settingsFromRows(rows), nil
}

// auditForm drops UpdatedAt, which the audit row's own time already says.
func auditForm(s Settings) Settings {
	s.UpdatedAt = time.Time{}
	return s
}

func sortedDomains(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Normalize validates s and returns it with domain names lower-cased (and a
// trailing dot removed). Every problem is reported, each under its field:
// "global_per_second", "domains" (too many) or "domains.<name as given>".
func Normalize(s Settings) (Settings, error) {
	var fields []outreach.FieldError
	if msg := checkRate(s.GlobalPerSecond); msg != "" {
		fields = append(fields, outreach.FieldError{Field: "global_per_second", Message: msg})
	}
	if len(s.Domains) > MaxDomains {
		fields = append(fields, outreach.FieldError{Field: "domains", Message: fmt.Sprintf("at most %d domains", MaxDomains)})
	}
	out := Settings{GlobalPerSecond: s.GlobalPerSecond, Domains: make(map[string]float64, len(s.Domains))}
	given := map[string]string{} // normalised name → name as given, to report duplicates
	for _, raw := range sortedDomains(s.Domains) {
		field := "domains." + raw
		d, ok := NormalizeDomain(raw)
		if !ok {
			fields = append(fields, outreach.FieldError{Field: field, Message: "not a valid domain name"})
			continue
		}
		if other, dup := given[d]; dup {
			fields = append(fields, outreach.FieldError{Field: field, Message: "same domain as " + other})
			continue
		}
		given[d] = raw
		if msg := checkRate(s.Domains[raw]); msg != "" {
			fields = append(fields, outreach.FieldError{Field: field, Message: msg})
			continue
		}
		out.Domains[d] = s.Domains[raw]
	}
	if len(fields) > 0 {
		return Settings{}, outreach.Invalid(fields...)
	}
	return out, nil
}

func checkRate(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return "must be a number"
	case r < 0:
		return "must not be negative (0 means no limit)"
	case r > MaxPerSecond:
		return fmt.Sprintf("must be at most %d per second", MaxPerSecond)
	case r > 0 && r < MinPerSecond:
		return fmt.Sprintf("must be 0 (no limit) or at least %g per second", MinPerSecond)
	}
	return ""
}

// NormalizeDomain lower-cases a domain name, drops a trailing dot and
// reports whether the result is a valid host name with at least two labels
// (letters, digits and inner hyphens; internationalised names in their
// xn-- form).
func NormalizeDomain(s string) (string, bool) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if len(d) == 0 || len(d) > 253 {
		return "", false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "", false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", false
			}
		}
	}
	return d, true
}
