package throttle

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/rapport-dev/rapport/internal/postgres"
)

// Quantum is the calendar's resolution, and so the burst tolerance: a key
// limited to R per second hands out at most R × Quantum slots (rounded on a
// fixed grid) in each Quantum-long step of time, spread evenly within it.
// Any one-second window therefore holds at most R × (1 s + Quantum) + 1
// slots — 5% over at 50 ms — however many processes reserve.
const Quantum = 50 * time.Millisecond

// maxScan bounds the walk through a calendar for one message (a week of
// quanta): only a rate far below MinPerSecond or a corrupt row could reach it.
const maxScan = int64(7 * 24 * time.Hour / Quantum)

// Reserve reserves a send slot for each message of a batch, given the
// recipient domain of each (in order; "" for none), and returns, in the same
// order, the earliest moment each may be handed to the mail server — never
// before now. Each message takes a slot in the global calendar and, if its
// domain has a rate (configured, or from a back-off), in its domain's
// calendar, in the same quantum, so both limits hold at the moment it is
// really sent. A message to a slow domain skips quanta the domain has no
// room in; a later message to a fast domain may still use them, so slow
// domains do not hold up the rest (no head-of-line blocking).
//
// It runs in one transaction of two round trips: BEGIN with the statement
// that locks (in key order) and reads the batch's buckets, then the
// statement that writes the updated calendars with COMMIT.
//
// Why a calendar and not one theoretical arrival time (plain GCRA) per key:
// with a single arrival time, a message held back by its domain either
// pushes the global arrival time to its own slot — and every other domain
// queues behind it — or consumes a global token now while being sent later,
// which lets the global rate be exceeded when it goes. The calendar keeps
// GCRA's arrival time (full_until) and adds the few partly used quanta
// after it.
func (l *Limiter) Reserve(ctx context.Context, now time.Time, domains []string) ([]time.Time, error) {
	slots, err := l.reserve(ctx, now, domains, -1, true)
	if err != nil {
		return nil, err
	}
	at := make([]time.Time, len(slots))
	for i, s := range slots {
		at[i] = s.At
	}
	return at, nil
}

// Slot is one message's turn from ReserveWithin or PeekWithin.
type Slot struct {
	// At is when the message may be handed to the mail server; when not
	// Reserved, the earliest moment its calendars have room, to try again.
	At time.Time
	// Reserved: the slot is the message's; otherwise it was past the
	// horizon and nothing was taken for it.
	Reserved bool
}

// ReserveWithin is Reserve for callers that would rather come back later
// than wait long: it reserves slots only up to horizon after now. Messages
// whose turn is later get no slot (Reserved false) and take nothing from
// the calendars; their At is the earliest moment their calendars have room
// again, for the caller to come back then. The throttled messages are
// never dropped; they just wait, and a slow domain's calendar never fills
// with slots nobody is waiting to use.
func (l *Limiter) ReserveWithin(ctx context.Context, now time.Time, domains []string, horizon time.Duration) ([]Slot, error) {
	return l.reserve(ctx, now, domains, max(horizon, 0), true)
}

// PeekWithin answers what ReserveWithin would, reserving nothing: which of
// the messages could have a slot within horizon now, and when the others
// could. A caller learns cheaply whether a batch can go before it locks
// and checks anything; others may take the slots meanwhile.
func (l *Limiter) PeekWithin(ctx context.Context, now time.Time, domains []string, horizon time.Duration) ([]Slot, error) {
	return l.reserve(ctx, now, domains, max(horizon, 0), false)
}

// reserve reserves slots for domains up to horizon ahead (a negative
// horizon does not limit), or with take false only works them out.
func (l *Limiter) reserve(ctx context.Context, now time.Time, domains []string, horizon time.Duration, take bool) ([]Slot, error) {
	if len(domains) == 0 {
		return nil, nil
	}
	keyOf := make([]string, len(domains)) // the domain key of each message, "" for none
	keys := []string{globalKey}
	seen := map[string]bool{}
	for i, d := range domains {
		if d == "" {
			continue
		}
		if nd, ok := NormalizeDomain(d); ok {
			d = nd
		}
		keyOf[i] = domainPrefix + d
		if !seen[keyOf[i]] {
			seen[keyOf[i]] = true
			keys = append(keys, keyOf[i])
		}
	}
	sort.Strings(keys)
	var slots []Slot
	err := l.store.ThrottleCalendars(ctx, keys, func(rows []postgres.ThrottleBucket) ([]postgres.ThrottleBucket, error) {
		cals := make(map[string]*calendar, len(rows))
		for _, r := range rows {
			c, err := newCalendar(r, now)
			if err != nil {
				return nil, err
			}
			if c != nil {
				cals[r.Key] = c
			}
		}
		var err error
		slots, err = allocate(now, keyOf, cals, horizon)
		if err != nil || !take {
			return nil, err
		}
		var out []postgres.ThrottleBucket
		for _, k := range keys {
			if c := cals[k]; c != nil && c.dirty {
				out = append(out, postgres.ThrottleBucket{Key: k, FullUntil: c.cursor, FullPerQ: c.perQ, Used: c.encode()})
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	if !take {
		return slots, nil
	}
	var n int64
	var total time.Duration
	for _, s := range slots {
		if s.Reserved {
			n++
			total += s.At.Sub(now)
		}
	}
	if n == 0 {
		l.snoozed.Add(1)
	}
	l.reserved.Add(n)
	l.waited.Add(int64(total))
	return slots, nil
}

// allocate gives each message the first quantum, from now on, in which its
// global and domain calendars both have room. A quantum past horizon
// (unless negative) is not taken: the message gets its start as a time to
// come back. Calendars missing from cals, or without a rate, do not limit.
func allocate(now time.Time, keyOf []string, cals map[string]*calendar, horizon time.Duration) ([]Slot, error) {
	nowQ := quantumOf(now)
	lastQ := int64(math.MaxInt64)
	if horizon >= 0 {
		lastQ = quantumOf(now.Add(horizon))
	}
	global := cals[globalKey]
	slots := make([]Slot, len(keyOf))
	for i, k := range keyOf {
		dom := cals[k]
		j := nowQ
		if global != nil {
			j = max(j, global.cursor)
		}
		if dom != nil {
			j = max(j, dom.cursor)
		}
		for start := j; !global.room(j) || !dom.room(j); j++ {
			if j-start > maxScan {
				return nil, fmt.Errorf("throttle: no free slot within a week for %s", k)
			}
		}
		slot := time.Unix(0, j*int64(Quantum)).UTC()
		reserved := j <= lastQ
		if reserved {
			slot = slot.Add(max(global.take(j), dom.take(j)))
		}
		if slot.Before(now) {
			slot = now
		}
		slots[i] = Slot{At: slot, Reserved: reserved}
	}
	return slots, nil
}

func quantumOf(t time.Time) int64 {
	n := t.UnixNano()
	q := n / int64(Quantum)
	if n < 0 && n%int64(Quantum) != 0 {
		q--
	}
	return q
}

// calendar is one key's reservations: how many slots each quantum holds.
// Quanta before full are full at fullPerQ slots a quantum; used holds the
// counts from full on.
type calendar struct {
	rate     float64         // effective messages per second, > 0
	perQ     float64         // rate × Quantum in seconds
	full     int64           // quanta before it are full
	fullPerQ float64         // at this perQ
	used     map[int64]int64 // quantum → slots taken, from full on
	cursor   int64           // no quantum from now up to it has room
	dirty    bool
}

// newCalendar loads a key's calendar for a reservation at now, or returns
// nil when the key has no limit at the moment.
func newCalendar(r postgres.ThrottleBucket, now time.Time) (*calendar, error) {
	rate := r.PerSecond
	if r.Key != globalKey {
		rate = effectiveRate(r.PerSecond, r.Backoff, now)
	}
	if rate <= 0 {
		return nil, nil
	}
	c := &calendar{rate: rate, perQ: rate * Quantum.Seconds(), full: r.FullUntil, fullPerQ: r.FullPerQ, used: map[int64]int64{}}
	if err := c.decode(r.Used); err != nil {
		return nil, fmt.Errorf("throttle bucket %s: %w", r.Key, err)
	}
	nowQ := quantumOf(now)
	if c.full > nowQ && c.perQ != c.fullPerQ {
		// The rate changed since the quanta ahead were filled: at the new
		// rate some may have room (or be over-full). Spell their counts out
		// and let the walk below find the first with room.
		for j := nowQ; j < c.full && j-nowQ < maxScan; j++ {
			if _, ok := c.used[j]; !ok {
				c.used[j] = c.slotsAt(j, c.fullPerQ)
			}
		}
		c.full = nowQ
		c.dirty = true
	}
	// Quanta before now are of no use to anyone; before full they are full.
	c.cursor = max(nowQ, c.full)
	c.advance()
	return c, nil
}

// slotsAt is how many slots quantum j holds at perQ slots a quantum: the
// points of the key's grid (one every 1/rate seconds from the epoch) that
// fall in it, so consecutive quanta together never hold more than rate ×
// their length + 1.
func (c *calendar) slotsAt(j int64, perQ float64) int64 {
	return int64(math.Floor(float64(j+1)*perQ) - math.Floor(float64(j)*perQ))
}

// usedAt is how many slots quantum j has taken.
func (c *calendar) usedAt(j int64) int64 {
	if n, ok := c.used[j]; ok {
		return n
	}
	if j < c.full {
		return c.slotsAt(j, c.fullPerQ)
	}
	return 0
}

// capacity is how many slots quantum j holds at the current rate.
func (c *calendar) capacity(j int64) int64 { return c.slotsAt(j, c.perQ) }

// room reports whether quantum j has a free slot; a nil calendar (no limit)
// always has.
func (c *calendar) room(j int64) bool {
	return c == nil || c.usedAt(j) < c.capacity(j)
}

// take uses a slot of quantum j and returns its offset in the quantum, so
// the quantum's slots are spread evenly instead of sent in one burst.
func (c *calendar) take(j int64) time.Duration {
	if c == nil {
		return 0
	}
	k := c.usedAt(j)
	c.used[j] = k + 1
	c.dirty = true
	if j == c.cursor {
		c.advance()
	}
	return time.Duration(float64(Quantum) * float64(k) / float64(c.capacity(j)))
}

// advance moves the cursor to the first quantum with room.
func (c *calendar) advance() {
	for start := c.cursor; !c.room(c.cursor) && c.cursor-start < maxScan; c.cursor++ {
	}
}

// The calendar is stored as full (the cursor: every quantum before it is
// full now) and uvarint pairs (quanta since the previous entry, or since
// full for the first; slots taken) for the quanta after it holding any: a
// few bytes per partly used quantum, nothing for full or empty ones.
func (c *calendar) encode() []byte {
	js := make([]int64, 0, len(c.used))
	for j, n := range c.used {
		if j >= c.cursor && n > 0 {
			js = append(js, j)
		}
	}
	sort.Slice(js, func(a, b int) bool { return js[a] < js[b] })
	out := make([]byte, 0, len(js)*3)
	prev := c.cursor
	for _, j := range js {
		out = binary.AppendUvarint(out, uint64(j-prev))
		out = binary.AppendUvarint(out, uint64(c.used[j]))
		prev = j
	}
	return out
}

func (c *calendar) decode(b []byte) error {
	j := c.full
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("corrupt calendar")
		}
		b = b[n:]
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("corrupt calendar")
		}
		b = b[n:]
		j += int64(d)
		c.used[j] = int64(v)
	}
	return nil
}
