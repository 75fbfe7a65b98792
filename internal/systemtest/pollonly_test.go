package systemtest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestPollOnly runs the default deployment with RIVER_POLL_ONLY=true, as
// behind PgBouncer in transaction mode: no connection LISTENs, and a
// campaign still goes out whole, its jobs found by polling.
func TestPollOnly(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOpts{single: true, sendWorkers: 2, env: map[string]string{"RIVER_POLL_ONLY": "true"}})
	c.createOpenTier("poll")
	c.insertContacts("poll", 300, func(j int) string { return fmt.Sprintf("poll-%03d@example.org", j) })
	id := c.sendCampaign("poll")
	st := c.waitTerminal(id, 300, time.Minute)
	if st["sent"] != 300 {
		t.Fatalf("campaign: %v, want 300 sent", st)
	}
	var listening int
	if err := c.db.QueryRow(context.Background(), `
		SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'listen%'`).Scan(&listening); err != nil {
		t.Fatal(err)
	}
	if listening != 0 {
		t.Errorf("%d connections LISTEN in poll-only mode", listening)
	}
}
