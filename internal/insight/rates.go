package insight

import (
	"math"
	"strconv"
)

// Buckets are the pressure–response curve's bars: how many marketing
// messages a contact received in the 30 days before a day. Each bucket
// holds counts from its Lo up to its Hi (inclusive); Hi < 0 means "and
// more".
var Buckets = []Range{{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 5}, {6, 9}, {10, -1}}

// Range is one bucket of message counts.
type Range struct{ Lo, Hi int }

// Label names the bucket as the API shows it: "0", "4-5", "10+".
func (r Range) Label() string {
	switch {
	case r.Hi < 0:
		return strconv.Itoa(r.Lo) + "+"
	case r.Lo == r.Hi:
		return strconv.Itoa(r.Lo)
	}
	return strconv.Itoa(r.Lo) + "-" + strconv.Itoa(r.Hi)
}

// Bucket returns the index in Buckets of a message count.
func Bucket(received int) int {
	for i, r := range Buckets {
		if received >= r.Lo && (r.Hi < 0 || received <= r.Hi) {
			return i
		}
	}
	return 0 // negative counts do not happen; treat as none
}

// PressureCap is the largest message count the daily pressure rollup keeps
// apart; counts above it are stored as PressureCap. It is at least the
// last bucket's Lo, so bucketing the stored counts loses nothing.
const PressureCap = 30

// Per1000 is n per 1,000 of base, rounded to two decimals; nil when base
// is zero (a rate over nothing is unknown, not zero).
func Per1000(n, base int64) *float64 {
	if base <= 0 {
		return nil
	}
	v := math.Round(float64(n)*1000/float64(base)*100) / 100
	return &v
}
