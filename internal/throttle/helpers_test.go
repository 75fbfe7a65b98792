package throttle

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

// t0 is the fake clock's start, mid-quantum so rounding shows.
var t0 = time.Date(2026, 6, 1, 10, 0, 0, 12_345_678, time.UTC)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

type bundle struct {
	url   string
	pool  *pgxpool.Pool
	clock *fakeClock
	lim   *Limiter
}

func setup(t *testing.T) *bundle {
	t.Helper()
	url := pgtest.URL(t)
	pool := open(t, url)
	clock := &fakeClock{now: t0}
	return &bundle{url: url, pool: pool, clock: clock, lim: newLimiter(pool, clock)}
}

func open(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	pool, err := postgres.Open(context.Background(), url, 4)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func put(t *testing.T, l *Limiter, s Settings) {
	t.Helper()
	if _, err := l.Put(context.Background(), "test", s); err != nil {
		t.Fatalf("put %+v: %v", s, err)
	}
}

func reserve(t *testing.T, l *Limiter, now time.Time, domains ...string) []time.Time {
	t.Helper()
	slots, err := l.Reserve(context.Background(), now, domains)
	if err != nil {
		t.Fatalf("reserve: %v", err)
	}
	if len(slots) != len(domains) {
		t.Fatalf("reserve: %d slots for %d messages", len(slots), len(domains))
	}
	for i, s := range slots {
		if s.Before(now) {
			t.Fatalf("slot %d at %v is before now %v", i, s, now)
		}
	}
	return slots
}

func repeat(d string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// maxPerWindow is the most slots falling in any half-open window of length
// w, sliding over every slot.
func maxPerWindow(slots []time.Time, w time.Duration) int {
	s := append([]time.Time(nil), slots...)
	sort.Slice(s, func(a, b int) bool { return s[a].Before(s[b]) })
	best, j := 0, 0
	for i := range s {
		for s[i].Sub(s[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// bound is the most slots a rate may hand out in one second: the rate over
// one second plus one quantum (the burst tolerance), plus one for the
// grid's rounding.
func bound(rate float64) int { return boundFor(rate, time.Second) }

// boundFor is bound for a window of length w.
func boundFor(rate float64, w time.Duration) int {
	return int(rate*(w+Quantum).Seconds()) + 1
}

func last(slots []time.Time) time.Time {
	var l time.Time
	for _, s := range slots {
		if s.After(l) {
			l = s
		}
	}
	return l
}

// newLimiter is a Limiter over a store on pool.
func newLimiter(pool *pgxpool.Pool, clock outreach.Clock) *Limiter {
	return New(postgres.NewStore(pool, clock), clock, Config{})
}
