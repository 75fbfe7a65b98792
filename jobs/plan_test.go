package jobs

import (
	"context"
	"os"
	"os/exec"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/testproc"
)

// busyTier is a tier with tight, interacting caps and an always-open
// window, so concurrent campaigns fight over every slot.
func busyTier(t *testing.T, b *bundle) outreach.Tier {
	t.Helper()
	tier := outreach.Tier{Key: "busy", Name: "Busy", Rank: 5, Rule: outreach.Rule{
		Caps:       []outreach.Cap{{Max: 2, Window: outreach.Duration(24 * time.Hour)}, {Max: 3, Window: outreach.Duration(7 * 24 * time.Hour)}},
		MinGap:     3 * time.Hour,
		SendWindow: outreach.AlwaysOpen,
	}}
	_, err := b.store.CreateTier(context.Background(), "test", tier)
	require.NoError(t, err)
	return tier
}

// assertCaps checks every contact's counting deliveries (reserved and sent)
// against the rule: no rolling window over its cap, no gap under min_gap.
func assertCaps(t *testing.T, b *bundle, rule outreach.Rule) (contacts, deliveries int) {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `
		SELECT contact_id, coalesce(sent_at, planned_for) FROM deliveries
		WHERE marketing AND state IN ('scheduled','sending','sent','unknown') ORDER BY contact_id, 2`)
	require.NoError(t, err)
	byContact := map[int64][]time.Time{}
	for rows.Next() {
		var id int64
		var at time.Time
		require.NoError(t, rows.Scan(&id, &at))
		byContact[id] = append(byContact[id], at)
		deliveries++
	}
	require.NoError(t, rows.Err())
	for id, times := range byContact {
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		for _, c := range rule.Caps {
			for i := 0; i+c.Max < len(times); i++ {
				require.GreaterOrEqual(t, times[i+c.Max].Sub(times[i]), time.Duration(c.Window),
					"contact %d: %d messages within %s: %v", id, c.Max+1, c.Window, times)
			}
		}
		for i := 1; i < len(times); i++ {
			require.GreaterOrEqual(t, times[i].Sub(times[i-1]), rule.MinGap, "contact %d: min gap: %v", id, times)
		}
	}
	return len(byContact), deliveries
}

// TestConcurrentPlanningHoldsCaps plans ten campaigns at once over the same
// 5,000 contacts, with planners in this process and in a second process, and
// checks that no contact ends up over any cap counting reserved deliveries.
func TestConcurrentPlanningHoldsCaps(t *testing.T) {
	t.Parallel()
	b := setup(t, realClock{})
	tier := busyTier(t, b)
	b.contacts(t, 5000, "busy", "UTC")

	ctx := context.Background()
	for i := 0; i < 10; i++ {
		c := b.campaign(t, "c"+itoa(i), 10*i, 14*24*time.Hour)
		b.startRun(t, c, b.set.clock.Now())
	}
	// A second OS process plans alongside this one.
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "RAPPORT_HELPER_DB="+b.url)
	out := &syncWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	b.workers(t, map[string]int{QueuePlan: 5})
	b.waitJobs(t, 3*time.Minute, "plan_run")
	require.NoError(t, cmd.Wait(), out.String())

	var planned int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM deliveries").Scan(&planned))
	require.Equal(t, 10*5000, planned, "one delivery per (run, contact)")
	nContacts, nCounting := assertCaps(t, b, tier.Rule)
	require.Equal(t, 5000, nContacts)
	// 3 per 7d and a 14-day expiry: each contact gets at most 3*2+… — at
	// least the first 3 must be reserved, the rest deferred or expired.
	require.GreaterOrEqual(t, nCounting, 3*5000)
	var helperRan int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'plan_run' AND attempted_by::text LIKE '%helper%'").Scan(&helperRan))
	t.Logf("plan jobs run by the helper process: %d; counting deliveries: %d", helperRan, nCounting)
}

// TestMain turns the test binary into the second planning process of
// TestConcurrentPlanningHoldsCaps when RAPPORT_HELPER_DB is set.
func TestMain(m *testing.M) {
	if url := os.Getenv("RAPPORT_HELPER_DB"); url != "" {
		os.Exit(helperPlanner(url))
	}
	os.Exit(m.Run())
}

// helperPlanner works the plan queue of another test's database until no
// planning is left.
func helperPlanner(url string) int {
	return testproc.Run(func(t testing.TB) {
		b := attach(t, url)
		b.workersID(t, map[string]int{QueuePlan: 5}, "helper")
		b.waitJobs(t, 3*time.Minute, "plan_run")
	})
}
