package cadence

import (
	"strconv"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// The rule names below are outreach's (Cap.String, FormatDuration) built
// with strconv into one buffer: the planner names a rule for every deferred
// message, and fmt-based formatting costs several allocations each time.
// TestRuleNamesMatchOutreach keeps them byte-for-byte equal.

// capName is c.String(): "cap 3/7d".
func capName(c outreach.Cap) string {
	var buf [48]byte
	b := append(buf[:0], "cap "...)
	b = strconv.AppendInt(b, int64(c.Max), 10)
	b = append(b, '/')
	b = appendDuration(b, time.Duration(c.Window))
	return string(b)
}

// gapName is "min_gap " + FormatDuration(g).
func gapName(g time.Duration) string {
	var buf [48]byte
	b := append(buf[:0], "min_gap "...)
	b = appendDuration(b, g)
	return string(b)
}

// durationUnits are FormatDuration's units, largest first.
var durationUnits = [...]struct {
	suffix string
	size   time.Duration
}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}}

// appendDuration appends outreach.FormatDuration(d).
func appendDuration(b []byte, d time.Duration) []byte {
	if d == 0 || d == -1<<63 {
		return append(b, outreach.FormatDuration(d)...) // "0s", and the one value -d cannot hold
	}
	if d < 0 {
		b = append(b, '-')
		d = -d
	}
	for _, u := range durationUnits {
		if n := d / u.size; n > 0 {
			b = strconv.AppendInt(b, int64(n), 10)
			b = append(b, u.suffix...)
			d -= n * u.size
		}
	}
	if d > 0 {
		b = strconv.AppendInt(b, int64(d), 10)
		b = append(b, "ns"...)
	}
	return b
}
