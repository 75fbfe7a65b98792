package systemtest

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rapport-dev/rapport/jobs"
)

// sendingNow counts deliveries left 'sending' (claimed, not recorded).
func (c *cluster) sendingNow(campaign int64) int {
	c.t.Helper()
	var n int
	if err := c.db.QueryRow(context.Background(), "SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND state = 'sending'",
		campaign).Scan(&n); err != nil {
		c.t.Fatal(err)
	}
	return n
}

// TestGracefulStop stops the only worker with SIGTERM twice during a
// 4,000-message campaign (at about 30% and 60%), restarting it each time,
// as a deploy does. A SIGTERM is a graceful stop: running batches finish the
// chunk in hand and record it, so right after each exit nothing is left
// 'sending'; afterwards every delivery is sent, none unknown, and the sink
// saw no Message-ID twice.
func TestGracefulStop(t *testing.T) {
	t.Parallel()
	const (
		contacts = 4000
		rate     = 300 // per second: about 13 s of sending
	)
	c := newCluster(t, clusterOpts{workers: 1, sendWorkers: 8})
	c.createOpenTier("open")
	c.insertContacts("open", contacts, func(i int) string { return fmt.Sprintf("graceful%04d@example.org", i) })
	c.setThrottles(rate, nil)
	camp := c.sendCampaign("open")
	launched := time.Now()
	for _, share := range []int{30, 60} {
		waitFor(t, 2*time.Minute, fmt.Sprintf("%d%% of the campaign at the sink", share), func() bool {
			return c.sink.count() >= contacts*share/100
		})
		w := c.workers[0]
		received := c.sink.count()
		sent := time.Now()
		w.signal(syscall.SIGTERM)
		waitExit(t, w, "SIGTERM")
		exit := time.Since(sent)
		left := c.sendingNow(camp)
		t.Logf("SIGTERM at +%v with %d at the sink: exited after %v, %d left sending, deliveries %v",
			sent.Sub(launched).Round(time.Millisecond), received, exit.Round(time.Millisecond), left, c.states(camp))
		if left != 0 {
			t.Errorf("%d deliveries left 'sending' by a graceful stop; want 0", left)
		}
		if out := w.output(); !strings.Contains(out, `"msg":"workers stopped"`) {
			t.Errorf("the worker did not log a graceful stop:\n%s", w.tail(4<<10))
		}
		c.workers[0] = c.startRole("worker")
	}
	st, received := c.allSentOnce(camp, contacts)
	t.Logf("graceful stop: %d contacts, deliveries %v, sink received %d; all terminal %v after launch",
		contacts, st, received, time.Since(launched).Round(time.Second))
}

// TestHardStop stops the only worker with two SIGTERMs, the second as
// soon as the graceful stop has begun, during a campaign to a slow server
// (150 ms to accept each message): the second makes it a hard stop,
// which cancels the send batches in the
// middle of their chunks (a chunk of 10 takes a second and a half). The
// messages handed over are recorded all the same, and what was claimed
// and not sent goes back: right after the exit nothing is left 'sending',
// and once the worker is back every delivery is sent, none unknown, no
// Message-ID twice at the sink.
func TestHardStop(t *testing.T) {
	t.Parallel()
	const contacts = 1000
	c := newCluster(t, clusterOpts{workers: 1, sendWorkers: 8, sinkArgs: []string{"-accept-delay", "150ms"}})
	c.createOpenTier("open")
	c.insertContacts("open", contacts, func(i int) string { return fmt.Sprintf("hard%04d@example.org", i) })
	camp := c.sendCampaign("open")
	waitFor(t, 2*time.Minute, "a fifth of the campaign at the sink", func() bool { return c.sink.count() >= contacts/5 })
	w := c.workers[0]
	w.signal(syscall.SIGTERM)
	// The second signal once the graceful stop has begun (and listens for
	// it), while the batches are still in their chunks.
	waitFor(t, 10*time.Second, "the graceful stop to begin", func() bool {
		return strings.Contains(w.output(), `"msg":"stopping workers: running batches finish and record"`)
	})
	w.signal(syscall.SIGTERM)
	waitExit(t, w, "a hard stop")
	out := w.output()
	if !strings.Contains(out, `"msg":"hard stop: cancelling the jobs still running"`) {
		t.Fatalf("no batch was running at the hard stop; the test proves nothing:\n%s", w.tail(4<<10))
	}
	left := c.sendingNow(camp)
	recorded := strings.Count(out, `"msg":"send batch outcomes recorded apart"`)
	t.Logf("hard stop: %d batches recorded apart, %d left sending, deliveries %v", recorded, left, c.states(camp))
	if recorded == 0 {
		t.Errorf("no cancelled batch wrote its answers apart; the hard stop cut nothing short:\n%s", w.tail(4<<10))
	}
	if left != 0 {
		t.Errorf("%d deliveries left 'sending' by a hard stop; want 0", left)
	}
	c.workers[0] = c.startRole("worker")
	st, received := c.allSentOnce(camp, contacts)
	t.Logf("hard stop: deliveries %v, sink received %d", st, received)
}

// waitExit waits for p to exit after what (a signal), failing the test
// after 40 s.
func waitExit(t *testing.T, p *proc, what string) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("%s did not exit within 40 s of %s", p.name, what)
	}
}

// allSentOnce waits for the campaign's deliveries to be terminal, stops
// the sink, checks that no Message-ID reached it twice and that all
// contacts were sent, none unknown, and returns the states and how many
// the sink received.
func (c *cluster) allSentOnce(camp int64, contacts int) (map[string]int, int) {
	c.t.Helper()
	st := c.waitTerminal(camp, contacts, 3*time.Minute)
	c.sink.stop()
	received := checkAtMostOnce(c.t, c.deliveries(camp), c.sink.records())
	if st["sent"] != contacts || st["unknown"] != 0 {
		c.t.Errorf("deliveries %v; want all %d sent and none unknown", st, contacts)
	}
	return st, received
}

// restartSingle kills the single serve process with SIGKILL, counts what
// its jobs had claimed and not recorded, and starts it again at once.
func (c *cluster) restartSingle() int {
	c.t.Helper()
	id := c.riverClientID(c.api)
	c.api.kill()
	inFlight := c.inFlightOf(id)
	c.api = c.startRole("all")
	c.waitReady()
	return inFlight
}

// inFlightOf counts the deliveries the jobs of a dead River client had
// claimed ('sending') and not recorded.
func (c *cluster) inFlightOf(clientID string) int {
	c.t.Helper()
	var n int
	err := c.db.QueryRow(context.Background(), `
		SELECT count(*) FROM deliveries d JOIN river_job j ON j.id = d.send_job_id
		WHERE d.state = 'sending' AND j.state = 'running' AND j.attempted_by[array_upper(j.attempted_by, 1)] = $1`, clientID).Scan(&n)
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// TestCrashResumesFast kills the default single-process deployment (one
// `rapport serve`) with SIGKILL three times during a 5,000-message
// campaign, restarting it at once, with the default RESCUE_AFTER (15 min).
// The killed process's jobs are rescued as soon as its heartbeat is stale
// (30 s), not after RESCUE_AFTER: every delivery is terminal within 90 s of
// the last restart, the sink saw no Message-ID twice, and only what was in
// flight at the kills may be unknown.
func TestCrashResumesFast(t *testing.T) {
	t.Parallel()
	const (
		contacts    = 5000
		sendWorkers = 8
		rate        = 250 // per second: about 20 s of sending without kills
	)
	c := newCluster(t, clusterOpts{single: true, sendWorkers: sendWorkers, env: map[string]string{"RESCUE_AFTER": ""}})
	c.createOpenTier("open")
	c.insertContacts("open", contacts, func(i int) string { return fmt.Sprintf("fast%04d@example.org", i) })
	c.setThrottles(rate, nil)
	camp := c.sendCampaign("open")
	launched := time.Now()
	inFlight := 0
	for _, share := range []int{10, 35, 60} {
		waitFor(t, 4*time.Minute, fmt.Sprintf("%d%% of the campaign at the sink", share), func() bool {
			return c.sink.count() >= contacts*share/100
		})
		received := c.sink.count()
		n := c.restartSingle()
		inFlight += n
		t.Logf("SIGKILL at +%v with %d at the sink, %d in flight", time.Since(launched).Round(time.Millisecond), received, n)
		if bound := sendWorkers * jobs.DefaultClaimChunk; n > bound {
			t.Errorf("%d deliveries in flight at a kill; at most %d (SEND_WORKERS × jobs.DefaultClaimChunk) may be", n, bound)
		}
	}
	restarted := time.Now()
	st := c.waitTerminal(camp, contacts, 90*time.Second)
	took := time.Since(restarted)
	c.sink.stop()
	received := checkAtMostOnce(t, c.deliveries(camp), c.sink.records())
	if st["unknown"] > inFlight {
		t.Errorf("%d deliveries unknown; only the %d in flight at the kills may be", st["unknown"], inFlight)
	}
	for s, n := range st {
		if s != "sent" && s != "unknown" {
			t.Errorf("%d deliveries ended %s; want only sent or unknown", n, s)
		}
	}
	t.Logf("crash, default RESCUE_AFTER: deliveries %v (in flight at the kills: %d), sink received %d; all terminal %v after the last restart",
		st, inFlight, received, took.Round(time.Second))
}

// TestFrozenWorkerIsHarmless freezes a worker (SIGSTOP) mid-campaign for
// long enough that its heartbeat goes stale and its running jobs are
// rescued and retried by the other worker, then lets it go on (SIGCONT).
// Both may then believe they own the same jobs; the ledger's claim lets
// exactly one of them send each delivery: no Message-ID reaches the sink
// twice, and what the frozen one sent is recorded sent, not unknown.
func TestFrozenWorkerIsHarmless(t *testing.T) {
	t.Parallel()
	const (
		contacts = 3000
		rate     = 150 // per second
	)
	c := newCluster(t, clusterOpts{workers: 2, sendWorkers: 4, env: map[string]string{"RESCUE_AFTER": ""}})
	c.createOpenTier("open")
	c.insertContacts("open", contacts, func(i int) string { return fmt.Sprintf("frozen%04d@example.org", i) })
	c.setThrottles(rate, nil)
	camp := c.sendCampaign("open")
	waitFor(t, 2*time.Minute, "a quarter of the campaign at the sink", func() bool { return c.sink.count() >= contacts/4 })
	frozen := c.workers[0]
	id := c.riverClientID(frozen)
	held := freezeWhileRunning(t, c, frozen, id)
	stopped := time.Now()
	t.Logf("worker %s frozen with %d jobs running", id, held)
	var rescued int
	waitFor(t, 90*time.Second, "the frozen worker's jobs to be rescued", func() bool {
		err := c.db.QueryRow(context.Background(), `SELECT count(*) FROM river_job
			WHERE errors::text LIKE '%orphaned: worker ' || $1 || '%'`, id).Scan(&rescued)
		return err == nil && rescued > 0
	})
	t.Logf("worker %s frozen; %d of its jobs rescued after %v", id, rescued, time.Since(stopped).Round(time.Second))
	time.Sleep(5 * time.Second) // the retries run (or wait for the frozen worker's locks)
	frozen.signal(syscall.SIGCONT)
	st := c.waitTerminal(camp, contacts, 3*time.Minute)
	c.sink.stop()
	received := checkAtMostOnce(t, c.deliveries(camp), c.sink.records())
	// The retry marked the frozen attempt's claims unknown; the attempt,
	// let go, sent them and recorded the server's answers over the
	// unknown (the late word, RecordOutcomes). Only a conversation the
	// freeze caught mid-way may end unknown for good: frozen past its
	// 30 s SMTP timeout, it times out on waking, the answer unread — at
	// most one per connection (4).
	if st["unknown"] > 4 {
		t.Errorf("%d deliveries left unknown; the frozen attempt's answers should have been recorded (at most 4 caught mid-conversation)", st["unknown"])
	}
	t.Logf("frozen worker: deliveries %v, sink received %d", st, received)
}

// freezeWhileRunning stops p (SIGSTOP) at a moment it has a job running,
// and returns how many. A worker whose jobs are all snoozed for their
// throttle slots, or between jobs, has nothing to rescue: frozen then, it
// is let go and frozen again once a job of its runs. Counted after the
// freeze, the running jobs are committed state that p can no longer
// change.
func freezeWhileRunning(t *testing.T, c *cluster, p *proc, clientID string) int {
	t.Helper()
	running := func() int {
		var n int
		err := c.db.QueryRow(context.Background(), `SELECT count(*) FROM river_job
			WHERE state = 'running' AND attempted_by[array_upper(attempted_by, 1)] = $1`, clientID).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if running() == 0 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		p.signal(syscall.SIGSTOP)
		if n := running(); n > 0 {
			return n
		}
		p.signal(syscall.SIGCONT)
	}
	t.Fatalf("%s never had a job running for a minute", p.name)
	return 0
}
