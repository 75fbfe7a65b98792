package throttle

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rapport-dev/rapport/internal/testproc"
)

// Environment of the helper process that TestConcurrent* start, so that
// reservations come from more than one OS process.
const (
	helperURL     = "THROTTLE_HELPER_URL"
	helperNow     = "THROTTLE_HELPER_NOW"
	helperDomains = "THROTTLE_HELPER_DOMAINS"
	helperSeed    = "THROTTLE_HELPER_SEED"
)

// reserveAll reserves a slot for each message, in batches of random size,
// as a send worker would, and returns the slots in message order.
func reserveAll(ctx context.Context, l *Limiter, now time.Time, domains []string, seed uint64) ([]time.Time, error) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []time.Time
	for len(domains) > 0 {
		n := min(len(domains), 1+rng.IntN(25))
		slots, err := l.Reserve(ctx, now, domains[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, slots...)
		domains = domains[n:]
	}
	return out, nil
}

// TestMain makes the test binary the second reserving process of the
// concurrency tests when helperURL is set (see reserveInProcess).
func TestMain(m *testing.M) {
	if url := os.Getenv(helperURL); url != "" {
		os.Exit(testproc.Run(func(t testing.TB) { helperReserve(t, url) }))
	}
	os.Exit(m.Run())
}

// helperReserve reserves from a second OS process and prints one
// "SLOT <unix nanoseconds>" line per message.
func helperReserve(t testing.TB, url string) {
	nanos, _ := strconv.ParseInt(os.Getenv(helperNow), 10, 64)
	seed, _ := strconv.ParseUint(os.Getenv(helperSeed), 10, 64)
	l := newLimiter(open(t, url), nil)
	slots, err := reserveAll(context.Background(), l, time.Unix(0, nanos).UTC(), strings.Split(os.Getenv(helperDomains), ","), seed)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		fmt.Printf("SLOT %d\n", s.UnixNano())
	}
}

// reserveConcurrently has each list of messages reserved by a worker of its
// own — the first procs of them in separate OS processes, the others in
// goroutines with a connection pool each — all at the same fake now, and
// returns the slots by recipient domain.
func reserveConcurrently(t *testing.T, b *bundle, now time.Time, procs int, workers [][]string) map[string][]time.Time {
	t.Helper()
	ctx := context.Background()
	results := make([][]time.Time, len(workers))
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for w, domains := range workers {
		wg.Go(func() {
			if w < procs {
				results[w], errs[w] = reserveInProcess(b.url, now, domains, uint64(w))
				return
			}
			pool := open(t, b.url)
			results[w], errs[w] = reserveAll(ctx, newLimiter(pool, b.clock), now, domains, uint64(w))
		})
	}
	wg.Wait()
	out := map[string][]time.Time{}
	for w, domains := range workers {
		if errs[w] != nil {
			t.Fatalf("worker %d: %v", w, errs[w])
		}
		if len(results[w]) != len(domains) {
			t.Fatalf("worker %d: %d slots for %d messages", w, len(results[w]), len(domains))
		}
		for i, d := range domains {
			out[d] = append(out[d], results[w][i])
		}
	}
	return out
}

func reserveInProcess(url string, now time.Time, domains []string, seed uint64) ([]time.Time, error) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(),
		helperURL+"="+url,
		helperNow+"="+strconv.FormatInt(now.UnixNano(), 10),
		helperDomains+"="+strings.Join(domains, ","),
		helperSeed+"="+strconv.FormatUint(seed, 10),
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helper process: %v\n%s%s", err, out, stderr.String())
	}
	var slots []time.Time
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "SLOT "); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				return nil, err
			}
			slots = append(slots, time.Unix(0, v).UTC())
		}
	}
	return slots, nil
}

func TestConcurrentGlobalRate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	put(t, b.lim, Settings{GlobalPerSecond: 200})
	// 1000 messages from 8 workers: 2 OS processes and 6 goroutines.
	workers := make([][]string, 8)
	for w := range workers {
		workers[w] = repeat("example.com", 125)
	}
	slots := reserveConcurrently(t, b, t0, 2, workers)["example.com"]
	if len(slots) != 1000 {
		t.Fatalf("%d slots", len(slots))
	}
	if n := maxPerWindow(slots, time.Second); n > bound(200) {
		t.Errorf("%d slots in one second, want at most %d", n, bound(200))
	}
	// Nor a burst: no 50 ms window holds more than 100 ms worth, plus one.
	if n := maxPerWindow(slots, Quantum); n > boundFor(200, Quantum) {
		t.Errorf("%d slots in %v", n, Quantum)
	}
	end := last(slots).Sub(t0)
	if end < 4800*time.Millisecond || end > 5050*time.Millisecond {
		t.Errorf("last slot after %v, want about 5s", end)
	}
	t.Logf("1000 slots at 200/s: last after %v, at most %d in a second", end, maxPerWindow(slots, time.Second))
}

func TestConcurrentDomainRate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	put(t, b.lim, Settings{GlobalPerSecond: 200, Domains: map[string]float64{"gmail.com": 20}})
	// Each worker's batches mix gmail.com (1 in 5) with domains that have no
	// rate of their own.
	others := []string{"yahoo.com", "outlook.com", "example.org", "example.net"}
	workers := make([][]string, 8)
	for w := range workers {
		for i := range 125 {
			d := others[i%4]
			if i%5 == 0 {
				d = "gmail.com"
			}
			workers[w] = append(workers[w], d)
		}
	}
	byDomain := reserveConcurrently(t, b, t0, 2, workers)
	var all, rest []time.Time
	for d, s := range byDomain {
		all = append(all, s...)
		if d != "gmail.com" {
			rest = append(rest, s...)
		}
	}
	gmail := byDomain["gmail.com"]
	if len(gmail) != 200 || len(all) != 1000 {
		t.Fatalf("%d gmail.com slots of %d", len(gmail), len(all))
	}
	if n := maxPerWindow(gmail, time.Second); n > bound(20) {
		t.Errorf("gmail.com: %d slots in one second, want at most %d", n, bound(20))
	}
	if n := maxPerWindow(all, time.Second); n > bound(200) {
		t.Errorf("all: %d slots in one second, want at most %d", n, bound(200))
	}
	// gmail.com's 200 messages take 10 s at 20/s; the other 800 share the
	// remaining 180/s and are done in about 4.5 s — they do not queue behind
	// gmail.com.
	if end := last(gmail).Sub(t0); end < 9500*time.Millisecond || end > 10100*time.Millisecond {
		t.Errorf("last gmail.com slot after %v, want about 10s", end)
	}
	if end := last(rest).Sub(t0); end > 5*time.Second {
		t.Errorf("last slot to other domains after %v, want about 4.5s", end)
	}
	t.Logf("gmail.com done after %v, others after %v", last(gmail).Sub(t0), last(rest).Sub(t0))
}

func TestReserveUnlimited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// No settings at all: nothing waits.
	for _, s := range reserve(t, b.lim, t0, repeat("gmail.com", 50)...) {
		if !s.Equal(t0) {
			t.Fatalf("slot %v, want now", s)
		}
	}
	// A domain rate alone limits that domain only.
	put(t, b.lim, Settings{Domains: map[string]float64{"gmail.com": 10}})
	slots := reserve(t, b.lim, t0, "gmail.com", "yahoo.com", "gmail.com", "", "GMAIL.COM")
	if !slots[1].Equal(t0) || !slots[3].Equal(t0) {
		t.Errorf("unlimited domains wait: %v", slots)
	}
	if d := slots[4].Sub(slots[2]); d < 90*time.Millisecond {
		t.Errorf("gmail.com slots %v apart at 10/s", d)
	}
}

func TestRateChangeAtRunTime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	put(t, b.lim, Settings{GlobalPerSecond: 100})
	first := reserve(t, b.lim, t0, repeat("a.com", 100)...)
	if end := last(first).Sub(t0); end < 950*time.Millisecond || end > 1010*time.Millisecond {
		t.Fatalf("100 at 100/s end after %v", end)
	}
	// Raised: the next 100 fit into the first 100 ms, next to the slots
	// already given.
	put(t, b.lim, Settings{GlobalPerSecond: 1000})
	second := reserve(t, b.lim, t0, repeat("a.com", 100)...)
	if end := last(second).Sub(t0); end > 150*time.Millisecond {
		t.Errorf("100 more at 1000/s end after %v", end)
	}
	// Lowered: later reservations are spaced at the new rate.
	put(t, b.lim, Settings{GlobalPerSecond: 10})
	later := t0.Add(2 * time.Second)
	third := reserve(t, b.lim, later, repeat("a.com", 20)...)
	if end := last(third).Sub(later); end < 1850*time.Millisecond || end > 2000*time.Millisecond {
		t.Errorf("20 at 10/s end after %v, want about 1.9s", end)
	}
	if n := maxPerWindow(third, time.Second); n > bound(10) {
		t.Errorf("%d in a second at 10/s", n)
	}
}

func TestReserveWithin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	put(t, b.lim, Settings{GlobalPerSecond: 10})
	reserve(t, b.lim, t0, repeat("a.com", 100)...) // booked for 10 s

	slots, err := b.lim.ReserveWithin(ctx, t0, []string{"a.com", "b.com"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(slots) != 2 || slots[0].Reserved || slots[1].Reserved || !slots[0].At.Equal(slots[1].At) {
		t.Fatalf("got %v; want nothing reserved and one moment to come back", slots)
	}
	if wait := slots[0].At.Sub(t0); wait < 9900*time.Millisecond || wait > 10100*time.Millisecond {
		t.Fatalf("come back in %v; want about 10s", wait)
	}
	// Nothing was reserved: a new request gets that same first slot.
	again, err := b.lim.ReserveWithin(ctx, t0, []string{"a.com"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || !again[0].Reserved || !again[0].At.Equal(slots[0].At) {
		t.Errorf("got %v; want the slot at %v", again, slots[0].At)
	}
	if st := b.lim.Stats(); st.Snoozed != 1 || st.Reserved != 101 {
		t.Errorf("stats %+v", st)
	}
}

// TestReserveHorizon: a batch mixing a slow domain into fast traffic gets
// slots for the slow messages up to the horizon only; the rest take nothing
// and come back with the time their domain has room again, so the slow
// domain's calendar holds no slot that nobody will use.
func TestReserveHorizon(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	put(t, b.lim, Settings{Domains: map[string]float64{"slow.com": 2}})
	batch := append(repeat("slow.com", 10), repeat("fast.com", 5)...)
	// A peek answers the same as the reservation after it: it took nothing.
	peek, err := b.lim.PeekWithin(ctx, t0, batch, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	slots, err := b.lim.ReserveWithin(ctx, t0, batch, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(peek, slots) {
		t.Errorf("peek %v, then reserved %v; want the same", peek, slots)
	}
	if len(slots) != len(batch) {
		t.Fatalf("got %d slots; want %d", len(slots), len(batch))
	}
	var reserved, later []time.Time
	for i, s := range slots {
		switch {
		case batch[i] == "fast.com":
			if !s.Reserved || !s.At.Equal(t0) {
				t.Errorf("fast message %d: %+v, want reserved now", i, s)
			}
		case s.Reserved:
			reserved = append(reserved, s.At)
		default:
			later = append(later, s.At)
		}
	}
	// At 2/s, 2 s hold 4 or 5 slots, depending on where the grid falls.
	if len(reserved) < 4 || len(reserved) > 5 || len(later) != 10-len(reserved) {
		t.Fatalf("reserved %d slow messages and deferred %d; want 4 or 5 reserved, the rest deferred", len(reserved), len(later))
	}
	if l := last(reserved); l.After(t0.Add(2*time.Second + Quantum)) {
		t.Errorf("a reserved slot at %v is past the horizon", l)
	}
	for _, at := range later {
		if !at.Equal(later[0]) || !at.After(t0.Add(2*time.Second)) || !at.After(last(reserved)) {
			t.Errorf("deferred messages come back at %v; want one moment after the last reserved slot %v", later, last(reserved))
			break
		}
	}
	// The deferred ones took nothing: the next reservation gets the slot
	// they were told to come back at, and after it the grid goes on at 2/s.
	next := reserve(t, b.lim, t0, "slow.com", "slow.com")
	if !next[0].Equal(later[0]) {
		t.Errorf("the next slow message got %v; want %v, the time the deferred ones were given", next[0], later[0])
	}
	if gap := next[1].Sub(next[0]); gap < 450*time.Millisecond || gap > 550*time.Millisecond {
		t.Errorf("slots %v apart at 2/s; want about 500ms", gap)
	}
	if st := b.lim.Stats(); st.Reserved != int64(5+len(reserved)+2) {
		t.Errorf("stats %+v; want %d reserved (the batch's fast and reserved slow ones, 2 after)", st, 5+len(reserved)+2)
	}
}

func TestSlowDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	put(t, b.lim, Settings{GlobalPerSecond: 200, Domains: map[string]float64{"gmail.com": 20}})
	rate := func(at time.Time, d string) float64 {
		t.Helper()
		r, err := b.lim.Rate(ctx, at, d)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	slow := func(at time.Time, d string) float64 {
		t.Helper()
		r, err := b.lim.SlowDown(ctx, at, d)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := slow(t0, "Gmail.com"); r != 10 {
		t.Fatalf("after one slow-down: %v/s, want 10", r)
	}
	// The whole batch heard "slow down": within the debounce it halves once.
	if r := slow(t0.Add(time.Second), "gmail.com"); r != 10 {
		t.Errorf("second answer of the same batch: %v/s, want 10", r)
	}
	// Another limiter (another process) reserves at the halved rate.
	other := newLimiter(open(t, b.url), nil)
	slots := reserve(t, other, t0.Add(2*time.Second), repeat("gmail.com", 50)...)
	if n := maxPerWindow(slots, time.Second); n > bound(10) {
		t.Errorf("%d gmail.com slots in a second while slowed to 10/s", n)
	}
	if end := last(slots).Sub(t0.Add(2 * time.Second)); end < 4800*time.Millisecond {
		t.Errorf("50 at 10/s done after %v", end)
	}
	// Recovers: held for 5 minutes from the last answer, then doubles.
	until := t0.Add(time.Second + 5*time.Minute)
	if r := rate(until.Add(-time.Millisecond), "gmail.com"); r != 10 {
		t.Errorf("just before the period ends: %v/s", r)
	}
	if r := rate(until, "gmail.com"); r != 20 {
		t.Errorf("after the period: %v/s, want back to 20", r)
	}
	slots = reserve(t, other, until, repeat("gmail.com", 40)...)
	if end := last(slots).Sub(until); end > 2*time.Second {
		t.Errorf("40 at 20/s done after %v", end)
	}

	// Two halvings climb back in two steps; never below the floor.
	later := until.Add(time.Hour)
	if r := slow(later, "gmail.com"); r != 10 {
		t.Errorf("got %v", r)
	}
	if r := slow(later.Add(10*time.Second), "gmail.com"); r != 5 {
		t.Errorf("second halving: %v/s, want 5", r)
	}
	end := later.Add(10*time.Second + 5*time.Minute)
	if r := rate(end, "gmail.com"); r != 10 {
		t.Errorf("one period on: %v/s, want 10", r)
	}
	if r := rate(end.Add(5*time.Minute), "gmail.com"); r != 20 {
		t.Errorf("two periods on: %v/s, want 20", r)
	}
	var r float64
	for i := range 20 {
		r = slow(end.Add(time.Duration(i)*time.Minute), "gmail.com")
	}
	if r != 1 {
		t.Errorf("after many slow-downs: %v/s, want the floor 1", r)
	}
}

func TestSlowDownUnconfiguredDomain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	put(t, b.lim, Settings{GlobalPerSecond: 200})
	// No rate of its own: it got at most the global rate, so half of that.
	r, err := b.lim.SlowDown(ctx, t0, "yahoo.com")
	if err != nil || r != 100 {
		t.Fatalf("got %v, %v; want 100/s", r, err)
	}
	slots := reserve(t, b.lim, t0, repeat("yahoo.com", 300)...)
	if n := maxPerWindow(slots, time.Second); n > bound(100) {
		t.Errorf("%d in a second at 100/s", n)
	}
	// Back to no limit of its own after a period.
	if got, _ := b.lim.Rate(ctx, t0.Add(5*time.Minute), "yahoo.com"); got != 0 {
		t.Errorf("after the period: %v/s, want 0 (none)", got)
	}
	// With no global rate either, it starts from Config.UnlimitedStart.
	put(t, b.lim, Settings{})
	if r, err := b.lim.SlowDown(ctx, t0, "hotmail.com"); err != nil || r != 50 {
		t.Errorf("got %v, %v; want 50/s", r, err)
	}
	if _, err := b.lim.SlowDown(ctx, t0, "not a domain"); err == nil {
		t.Error("slowed down an invalid domain")
	}
}
