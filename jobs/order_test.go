package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/postgres"
)

// TestSendOrderInterleaves: messages free to go at once fill the gaps
// between throttled ones, but a throttled message whose slot has come goes
// next, ahead of the free ones still waiting — never late behind them.
func TestSendOrderInterleaves(t *testing.T) {
	t.Parallel()
	now := time.Now()
	slots := map[int64]time.Time{}
	var ready []outgoing
	add := func(id int64, at time.Time) {
		ready = append(ready, outgoing{item: sendItem(id)})
		slots[id] = at
	}
	add(100, now.Add(900*time.Millisecond)) // out of order on purpose
	for id := int64(1); id <= 25; id++ {
		add(id, now)
	}
	add(101, now.Add(300*time.Millisecond))
	add(102, now.Add(310*time.Millisecond))
	o := newSendOrder(ready, realPacer(slots), 10)
	ids := func(chunk []outgoing) []int64 {
		out := make([]int64, len(chunk))
		for i, c := range chunk {
			out[i] = c.item.ID
		}
		return out
	}
	ctx := context.Background()
	require.Equal(t, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, ids(o.next(ctx)), "free ones first while no slot has come")
	time.Sleep(time.Until(now.Add(320 * time.Millisecond)))
	require.Equal(t, []int64{101, 102}, ids(o.next(ctx)), "throttled ones whose slots came go before the free rest")
	require.Equal(t, []int64{11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, ids(o.next(ctx)))
	require.Equal(t, []int64{21, 22, 23, 24, 25}, ids(o.next(ctx)))
	last := o.next(ctx)
	require.Equal(t, []int64{100}, ids(last), "then it waits for the last slot")
	require.False(t, time.Now().Before(now.Add(900*time.Millisecond-lookahead)), "not handed out before its slot")
	require.Nil(t, o.next(ctx))
	require.Empty(t, o.rest())

	// A chunk put back, and what was never handed out, are the rest.
	o = newSendOrder(ready[:0:0], realPacer(nil), DefaultClaimChunk)
	require.Nil(t, o.next(ctx))
	o = newSendOrder([]outgoing{{item: sendItem(7)}, {item: sendItem(8)}}, realPacer(nil), DefaultClaimChunk)
	c := o.next(ctx)
	require.Equal(t, []int64{7, 8}, ids(c))
	o.putBack(c)
	require.Equal(t, []int64{7, 8}, ids(o.rest()))
}

func sendItem(id int64) postgres.SendItem {
	var it postgres.SendItem
	it.ID = id
	return it
}

// realPacer paces on real time, as a worker on the system clock does.
func realPacer(slots map[int64]time.Time) *pacer {
	return NewSendWorker(nil, SendConfig{}).newPacer(slots)
}
