package postgres

import (
	"context"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFirstIDSince bisects tables of ids with gaps against a scan: the
// first id whose time is at or after since, whatever since is.
func TestFirstIDSince(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for round := range 200 {
		n := rng.IntN(60)
		ids := make([]int64, 0, n)
		next := int64(1 + rng.IntN(5))
		for range n {
			ids = append(ids, next)
			next += int64(1 + rng.IntN(4)) // blocks taken and not all used
		}
		at := func(id int64) time.Time { return base.Add(time.Duration(id) * time.Hour) }
		probes := 0
		bounds := func(context.Context) (int64, int64, error) {
			if len(ids) == 0 {
				return 0, 0, nil
			}
			return ids[0], ids[len(ids)-1], nil
		}
		first := func(_ context.Context, from int64) (int64, time.Time, error) {
			probes++
			i := sort.Search(len(ids), func(i int) bool { return ids[i] >= from })
			require.Less(t, i, len(ids), "probed past the last row")
			return ids[i], at(ids[i]), nil
		}
		since := base.Add(time.Duration(rng.IntN(int(next)+4)-2) * time.Hour)
		want := int64(0)
		switch {
		case len(ids) == 0:
		default:
			want = ids[len(ids)-1] + 1
			for _, id := range ids {
				if !at(id).Before(since) {
					want = id
					break
				}
			}
		}
		got, err := firstIDSince(context.Background(), since, bounds, first)
		require.NoError(t, err)
		// Any bound between the last older row and the first newer one
		// selects the same rows.
		for _, id := range ids {
			require.Equal(t, id >= want, id >= got, "round %d: id %d, since %s", round, id, since)
		}
		require.LessOrEqual(t, probes, 8, "a few probes, not a scan")
	}
}
