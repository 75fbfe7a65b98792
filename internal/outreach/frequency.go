package outreach

import (
	"cmp"
	"slices"
	"time"
)

// Year is the period tiers are compared over by ByFrequency.
const Year = 365 * 24 * time.Hour

// MostIn is an upper bound on how many marketing messages the rule lets
// through in any period of length d: the least, over its caps, of the
// cap's max times the windows the period spans, and what the min gap
// allows. The send window is not counted. It orders tiers by how often
// they let us write; it is not a forecast.
func (r Rule) MostIn(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	most := int64(-1)
	bound := func(n int64) {
		if most < 0 || n < most {
			most = n
		}
	}
	for _, c := range r.Caps {
		if w := time.Duration(c.Window); w > 0 && c.Max > 0 {
			bound(int64(c.Max) * int64((d+w-1)/w))
		}
	}
	if r.MinGap > 0 {
		bound(int64((d-1)/r.MinGap) + 1)
	}
	if most < 0 {
		return int64(d / time.Second) // no limit at all
	}
	return most
}

// ByFrequency returns the tiers from the one that lets us write most often
// to the one that writes least (by Rule.MostIn over a year); tiers that
// allow as much come by rank, highest first, then by key.
func ByFrequency(tiers []Tier) []Tier {
	out := slices.Clone(tiers)
	slices.SortStableFunc(out, func(a, b Tier) int {
		return cmp.Or(cmp.Compare(b.Rule.MostIn(Year), a.Rule.MostIn(Year)), cmp.Compare(b.Rank, a.Rank), cmp.Compare(a.Key, b.Key))
	})
	return out
}
