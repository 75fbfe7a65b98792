package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/throttle"
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

// TestPacerStallShiftsTheRest: a batch that stalls mid-way (half a second
// with its process frozen, its server or database slow) does not send the
// messages whose turns passed meanwhile back to back: the rest of the
// batch shifts, and at most a quantum's worth (plus the one in hand) goes
// at once. Before a stall, messages go at their slots.
func TestPacerStallShiftsTheRest(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	const spacing = 10 * time.Millisecond // 100/s
	slots := map[int64]time.Time{}
	for id := int64(1); id <= 100; id++ {
		slots[id] = t0.Add(time.Duration(id-1) * spacing)
	}
	now := t0
	p := &pacer{slots: slots, now: func() time.Time { return now },
		sleep: func(_ context.Context, d time.Duration) error { now = now.Add(d); return nil }}
	ctx := context.Background()
	for id := int64(1); id <= 5; id++ {
		require.NoError(t, p.wait(ctx, id))
		require.Equal(t, slots[id], now, "message %d at its slot", id)
	}
	now = now.Add(500 * time.Millisecond) // the stall
	sentAt := map[int64]time.Time{}
	for id := int64(6); id <= 100; id++ {
		require.NoError(t, p.wait(ctx, id))
		sentAt[id] = now
	}
	stallEnd := sentAt[6]
	atOnce := 0
	for id := int64(6); id <= 100; id++ {
		if sentAt[id].Equal(stallEnd) {
			atOnce++
		}
	}
	require.LessOrEqual(t, atOnce, int(throttle.Quantum/spacing)+1, "sent back to back after the stall")
	for id := int64(7); id <= 100; id++ {
		require.GreaterOrEqual(t, sentAt[id].Sub(sentAt[id-1]), time.Duration(0))
	}
	// From the end of the catch-up on, the batch keeps its pace.
	last := int64(6 + atOnce)
	for id := last + 1; id <= 100; id++ {
		require.Equal(t, spacing, sentAt[id].Sub(sentAt[id-1]), "message %d a slot after the one before", id)
	}
}
