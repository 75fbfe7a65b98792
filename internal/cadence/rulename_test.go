package cadence

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

func TestRuleNamesMatchOutreach(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	fixed := []time.Duration{0, 1, -1, time.Millisecond, time.Second, 90 * time.Minute, 36 * time.Hour, 7 * day, 366 * day, 1<<63 - 1, -1 << 63}
	for i := range 5000 {
		var d time.Duration
		switch {
		case i < len(fixed):
			d = fixed[i]
		case i%3 == 0:
			d = time.Duration(r.Int64())
		default:
			d = time.Duration(r.Int64N(int64(400 * day))).Truncate([]time.Duration{1, time.Millisecond, time.Second, time.Minute, time.Hour}[r.IntN(5)])
		}
		c := outreach.Cap{Max: r.IntN(1000) - 10, Window: outreach.Duration(d)}
		expectEq(t, c.String(), capName(c))
		expectEq(t, "min_gap "+outreach.FormatDuration(d), gapName(d))
	}
}
