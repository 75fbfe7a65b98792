package systemtest

import (
	"fmt"
	"testing"
	"time"
)

// TestIdleConnection sends a campaign, lets the pooled SMTP connections go
// idle for longer than the server keeps idle connections open (the sink
// closes them after 2 s here; real servers after 1–5 minutes), then sends
// another. The second campaign must go out at once: a connection the server
// has closed is not a reason to defer a batch (it was never handed a
// message), and the retry interval (1 minute and up) is longer than common
// idle timeouts, so a batch deferred for that reason finds a stale
// connection again at each retry.
func TestIdleConnection(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOpts{workers: 1, sendWorkers: 2, sinkArgs: []string{"-idle-timeout", "2s"}})
	for i, tier := range []string{"first", "second"} {
		c.createOpenTier(tier)
		c.insertContacts(tier, 50, func(j int) string { return fmt.Sprintf("idle%d-%03d@example.org", i, j) })
	}
	first := c.sendCampaign("first")
	st := c.waitTerminal(first, 50, time.Minute)
	if st["sent"] != 50 {
		t.Fatalf("first campaign: %v, want 50 sent", st)
	}
	time.Sleep(4 * time.Second) // the sink closes the idle connections
	second := c.sendCampaign("second")
	st = c.waitTerminal(second, 50, 30*time.Second)
	if st["sent"] != 50 {
		t.Errorf("second campaign: %v, want 50 sent", st)
	}
}
