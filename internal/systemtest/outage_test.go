package systemtest

import (
	"fmt"
	"net"
	"sort"
	"testing"
	"time"
)

// TestOutage stops the SMTP server (SIGTERM) in the middle of a campaign for
// 30 s and starts it again on the same port. Batches that meet the outage
// are deferred (connection refused is a temporary failure), so in the end
// nothing is lost — every delivery sent or, for a message cut off mid-way,
// unknown; none failed — and nothing is duplicated across the two lives of
// the sink.
func TestOutage(t *testing.T) {
	t.Parallel()
	const (
		contacts = 3000
		rate     = 100 // per second: about 30 s of sending
		outage   = 30 * time.Second
	)
	start := time.Now()
	c := newCluster(t, clusterOpts{workers: 2, sendWorkers: 4})
	c.createOpenTier("open")
	c.insertContacts("open", contacts, func(i int) string { return fmt.Sprintf("outage%04d@example.org", i) })
	c.setThrottles(rate, nil)
	camp := c.sendCampaign("open")
	launched := time.Now()

	waitFor(t, 2*time.Minute, "the sink to receive 20% of the campaign", func() bool { return c.sink.count() >= contacts/5 })
	before := c.sink.count()
	c.sink.stop()
	down := time.Now()
	t.Logf("sink stopped at +%v with %d messages; deliveries %v", down.Sub(launched).Round(time.Millisecond), before, c.states(camp))
	time.Sleep(outage / 2)
	if conn, err := net.DialTimeout("tcp", c.sink.addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("something answers on the sink's port %s while it is down", c.sink.addr)
	}
	time.Sleep(outage - time.Since(down))
	midway := c.states(camp)
	c.sink.start()
	t.Logf("sink restarted at +%v; deliveries %v", time.Since(launched).Round(time.Millisecond), midway)

	// Batches that met the outage are retried after 1–2 minutes (jobs/send.go
	// backoff), so the wait allows for that.
	st := c.waitTerminal(camp, contacts, 4*time.Minute)
	settled := time.Now()
	c.sink.stop()
	ds := c.deliveries(camp)
	received := checkAtMostOnce(t, ds, c.sink.records())
	for s, n := range st {
		if s != "sent" && s != "unknown" {
			t.Errorf("%d deliveries ended %s; want only sent or, at worst, unknown", n, s)
		}
	}
	attempts := map[int]int{}
	for _, d := range ds {
		attempts[d.Attempts]++
	}
	var keys []int
	for k := range attempts {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var dist string
	for _, k := range keys {
		dist += fmt.Sprintf(" %d×%d", attempts[k], k)
	}
	t.Logf("outage: %d contacts: sent %d, unknown %d; sink received %d (%d before the outage); deliveries by attempts:%s",
		contacts, st["sent"], st["unknown"], received, before, dist)
	t.Logf("outage: setup %v, all terminal at +%v after launch; total %v",
		launched.Sub(start).Round(time.Second), settled.Sub(launched).Round(time.Second), time.Since(start).Round(time.Second))
}
