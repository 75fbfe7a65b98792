// Pacing a send batch by its throttle slots: which deliveries may go
// within maxPace, their slots, and the order they go in.

package jobs

import (
	"context"
	"slices"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/throttle"
)

// maxPace is the furthest ahead a send job reserves throttle slots and
// waits for them. Deliveries whose turn is later wait for a later run of
// the job, which snoozes until then. It bounds how long a batch holds a
// worker and its contacts' locks (and so how long a customer's unsubscribe
// may wait for it) beyond the sending itself, and stays under River's
// scheduler interval (5 s), below which a snoozed job comes back on time.
const maxPace = 2 * time.Second

// peek keeps the due deliveries that could have a throttle slot within
// maxPace, reserving nothing, and returns when to try the others (zero:
// none left out).
func (w *SendWorker) peek(ctx context.Context, due []postgres.SendItem) ([]postgres.SendItem, time.Time, error) {
	if w.cfg.Throttle == nil || len(due) == 0 {
		return due, time.Time{}, nil
	}
	domains := make([]string, len(due))
	for i, r := range due {
		domains[i] = outreach.EmailDomain(r.Email)
	}
	got, err := w.cfg.Throttle.PeekWithin(ctx, w.cfg.Clock.Now(), domains, maxPace)
	if err != nil {
		return nil, time.Time{}, err
	}
	var keep []postgres.SendItem
	var turn time.Time
	for i, r := range due {
		if got[i].Reserved {
			keep = append(keep, r)
		} else {
			turn = earlier(turn, got[i].At)
		}
	}
	return keep, turn, nil
}

// reserve takes throttle slots, up to maxPace ahead, for the ready
// messages. It returns the slots by delivery (nil: no throttle), the
// messages that got one, and when to try the others again (zero: none).
func (w *SendWorker) reserve(ctx context.Context, ready []outgoing) (map[int64]time.Time, []outgoing, time.Time, error) {
	if w.cfg.Throttle == nil {
		return nil, ready, time.Time{}, nil
	}
	domains := make([]string, len(ready))
	for i, o := range ready {
		domains[i] = outreach.EmailDomain(o.contact.Email)
	}
	now := w.cfg.Clock.Now()
	got, err := w.cfg.Throttle.ReserveWithin(ctx, now, domains, maxPace)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	slots := make(map[int64]time.Time, len(ready))
	keep := ready[:0]
	var turn, first time.Time
	for i, o := range ready {
		if got[i].Reserved {
			slots[o.item.ID] = got[i].At
			keep = append(keep, o)
			first = earlier(first, got[i].At)
		} else {
			turn = earlier(turn, got[i].At)
		}
	}
	if !first.IsZero() {
		w.cfg.Metrics.ThrottleWait(max(first.Sub(now), 0))
	}
	return slots, keep, turn, nil
}

// earlier is the earlier of two moments, a zero one counting as none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// sleep waits for d of real time, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lookahead is how soon a throttled message's slot must come for it to be
// claimed with the chunk about to go.
const lookahead = 50 * time.Millisecond

// sendOrder hands out a batch's messages a chunk at a time, in the order
// they should go: throttled messages as their slots come, and the messages
// free to go at once in between. Sending the free ones first, all of them,
// would make the throttled ones late, and late ones go back to back: a
// burst above their domain's rate.
type sendOrder struct {
	free  []outgoing // could go when sending began
	timed []outgoing // the rest, by slot
	pace  *pacer
	chunk int // most messages per chunk
}

// newSendOrder orders ready by slot, to be handed out at most chunk at a
// time.
func newSendOrder(ready []outgoing, pace *pacer, chunk int) *sendOrder {
	slices.SortStableFunc(ready, func(a, b outgoing) int { return pace.slots[a.item.ID].Compare(pace.slots[b.item.ID]) })
	now := pace.now()
	i, _ := slices.BinarySearchFunc(ready, now.Add(lookahead), func(o outgoing, t time.Time) int {
		if pace.at(o.item.ID).After(t) {
			return 1
		}
		return -1
	})
	return &sendOrder{free: ready[:i:i], timed: ready[i:], pace: pace, chunk: chunk}
}

// next returns the next chunk (up to o.chunk messages), waiting for the
// next slot when nothing can go yet; nil when none is left or ctx ends.
func (o *sendOrder) next(ctx context.Context) []outgoing {
	for {
		n := 0
		due := o.pace.now().Add(lookahead)
		for n < len(o.timed) && n < o.chunk && !o.pace.at(o.timed[n].item.ID).After(due) {
			n++
		}
		if n > 0 {
			chunk := o.timed[:n:n]
			o.timed = o.timed[n:]
			return chunk
		}
		if len(o.free) > 0 {
			n = min(o.chunk, len(o.free))
			chunk := o.free[:n:n]
			o.free = o.free[n:]
			return chunk
		}
		if len(o.timed) == 0 {
			return nil
		}
		if o.pace.sleep(ctx, o.pace.at(o.timed[0].item.ID).Sub(o.pace.now())-lookahead) != nil {
			return nil
		}
	}
}

// putBack returns a chunk next handed out and that will not go.
func (o *sendOrder) putBack(chunk []outgoing) { o.free = append(chunk, o.free...) }

// rest is what next has not handed out.
func (o *sendOrder) rest() []outgoing { return slices.Concat(o.free, o.timed) }

// pacer sends each message at its throttle slot, on the worker's clock. A
// batch usually starts a little after its first slot (the connection, the
// first claim's commit): the whole schedule shifts by that lag instead of
// sending the overdue messages back to back, which would burst above the
// rate.
type pacer struct {
	slots map[int64]time.Time
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	lag   time.Duration
	set   bool
}

func (w *SendWorker) newPacer(slots map[int64]time.Time) *pacer {
	return &pacer{slots: slots, now: w.cfg.Clock.Now, sleep: w.cfg.Sleep}
}

// wait waits until the message's turn, or until ctx ends (its error). A
// message more than one throttle quantum past its turn (the worker, the
// database or the server stalled mid-batch) shifts the rest of the batch
// by the excess, as the first message's lag shifts the whole: after a
// stall the batch goes on at its pace instead of sending what fell behind
// back to back, which would burst above the rate; within a quantum it
// catches up, as the calendars allow.
func (p *pacer) wait(ctx context.Context, id int64) error {
	if _, ok := p.slots[id]; ok {
		if !p.set {
			p.set = true
			p.lag = max(0, p.now().Sub(p.slots[id]))
		} else if late := p.now().Sub(p.at(id)); late > throttle.Quantum {
			p.lag += late - throttle.Quantum
		}
	}
	if d := p.at(id).Sub(p.now()); d > 0 {
		return p.sleep(ctx, d)
	}
	return nil
}

// at is the message's turn: its slot shifted by the batch's lag, or now
// when it has no slot (no throttle).
func (p *pacer) at(id int64) time.Time {
	slot, ok := p.slots[id]
	if !ok {
		return p.now()
	}
	lag := p.lag
	if !p.set {
		lag = max(0, p.now().Sub(slot))
	}
	return slot.Add(lag)
}
