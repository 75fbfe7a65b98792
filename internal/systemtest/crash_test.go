package systemtest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rapport-dev/rapport/jobs"
)

// TestCrash sends a 20,000-message campaign through two worker processes and
// kills a worker with SIGKILL at random moments while it sends, restarting
// it each time (SPEC 6). Afterwards every delivery is terminal, the sink
// received no Message-ID twice, everything recorded sent reached the sink,
// and what reached the sink is sent or, for the messages in flight at a
// kill, unknown.
func TestCrash(t *testing.T) {
	t.Parallel()
	const (
		contacts    = 20_000
		sendWorkers = 8
		kills       = 4
		rate        = 0 // no limit
	)
	start := time.Now()
	c := newCluster(t, clusterOpts{workers: 2, sendWorkers: sendWorkers})
	c.createOpenTier("open")
	c.insertContacts("open", contacts, func(i int) string { return fmt.Sprintf("crash%05d@example.org", i) })
	if rate > 0 {
		c.setThrottles(rate, nil)
	}
	camp := c.sendCampaign("open")
	launched := time.Now()

	// Kill when the sink has received a random share of the campaign, a
	// random fraction of a second later, a random worker.
	// Kills are at least 5% of the campaign apart, so each hits a worker
	// that has been sending for a while.
	var at []int
	for len(at) < kills {
		at = at[:0]
		for range kills {
			at = append(at, contacts/20+rand.IntN(contacts*3/4-contacts/20))
		}
		slices.Sort(at)
		for i := 1; i < len(at); i++ {
			if at[i]-at[i-1] < contacts/20 {
				at = at[:0]
				break
			}
		}
	}
	type kill struct {
		worker   int
		received int
		inFlight int // deliveries the killed worker had claimed and not recorded
		at       time.Duration
	}
	var done []kill
	deadline := time.Now().Add(3 * time.Minute)
	for _, threshold := range at {
		for c.sink.count() < threshold {
			if time.Now().After(deadline) {
				t.Fatalf("the sink has %d messages after 3 minutes; waiting for %d to kill (kills so far: %d)", c.sink.count(), threshold, len(done))
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		w := rand.IntN(len(c.workers))
		n := c.sink.count()
		at := time.Since(launched)
		done = append(done, kill{worker: w, received: n, inFlight: c.restartWorker(w), at: at})
	}
	killed := time.Now()
	inFlight := 0
	for _, k := range done {
		t.Logf("SIGKILL worker %d at +%v with %d messages at the sink, %d in flight", k.worker, k.at.Round(time.Millisecond), k.received, k.inFlight)
		inFlight += k.inFlight
		// A send job claims jobs.DefaultClaimChunk deliveries per commit, so a
		// killed worker can leave at most that many per running job.
		if bound := sendWorkers * jobs.DefaultClaimChunk; k.inFlight > bound {
			t.Errorf("%d deliveries in flight at a kill; at most %d (SEND_WORKERS × jobs.DefaultClaimChunk) may be", k.inFlight, bound)
		}
	}

	// Killed jobs are rescued after RESCUE_AFTER (1m) by River's rescuer,
	// which runs every 30 s; their retries mark what they had claimed
	// unknown and send the rest.
	st := c.waitTerminal(camp, contacts, 4*time.Minute)
	settled := time.Now()
	c.sink.stop()
	ds := c.deliveries(camp)
	recs := c.sink.records()
	received := checkAtMostOnce(t, ds, recs)

	for s, n := range st {
		if s != "sent" && s != "unknown" {
			t.Errorf("%d deliveries ended %s; want only sent or unknown", n, s)
		}
	}
	// Only what was in flight at a kill may be unknown: the retried jobs
	// mark exactly those, and a message accepted or refused is recorded.
	if st["unknown"] > inFlight {
		t.Errorf("%d deliveries unknown; only the %d in flight at the kills may be", st["unknown"], inFlight)
	}
	if len(done) < 3 {
		t.Errorf("only %d kills happened while sending", len(done))
	}
	t.Logf("crash: %d contacts, %d kills, %d in flight at them; sent %d, unknown %d, other %v; sink received %d (%d unknown ones reached it)",
		contacts, len(done), inFlight, st["sent"], st["unknown"], st, received, received-st["sent"])
	t.Logf("crash: setup %v, kills done at +%v, all terminal at +%v after launch; total %v",
		launched.Sub(start).Round(time.Second), killed.Sub(launched).Round(time.Second),
		settled.Sub(launched).Round(time.Second), time.Since(start).Round(time.Second))
}
