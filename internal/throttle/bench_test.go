package throttle

import (
	"context"
	"testing"
	"time"

	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

// BenchmarkReserve reserves slots for batches of 100 messages over 3
// domains (two with rates, one without) at 400/s global, advancing the fake
// clock by half a second each round, so the calendars stay the size they
// have in steady state (each batch's slots span about 330 ms). Baseline: a send batch (claim + completion
// commits, MEASUREMENTS.md) costs about 15 ms per 100 messages at the
// ~6,700 msg/s ceiling; a reservation must stay well under that.
func BenchmarkReserve(b *testing.B) {
	url := pgtest.URL(b)
	l := newLimiter(open(b, url), nil)
	ctx := context.Background()
	if _, err := l.Put(ctx, "bench", Settings{GlobalPerSecond: 400, Domains: map[string]float64{"gmail.com": 100, "yahoo.com": 100}}); err != nil {
		b.Fatal(err)
	}
	domains := make([]string, 100)
	for i := range domains {
		domains[i] = []string{"gmail.com", "yahoo.com", "example.com"}[i%3]
	}
	now := t0
	for b.Loop() {
		if _, err := l.Reserve(ctx, now, domains); err != nil {
			b.Fatal(err)
		}
		now = now.Add(500 * time.Millisecond)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/100, "µs/msg")
}
