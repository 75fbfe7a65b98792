package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/tuning"
)

// TestPruneHistoryKeepsTheRollups: deliveries older than the retention go
// only once the insight rollup has closed their day, and the rollups keep
// what they counted.
func TestPruneHistoryKeepsTheRollups(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	clock.Set(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	b := setup(t, clock)
	ctx := context.Background()
	for _, stmt := range []string{
		`INSERT INTO contacts (email, tier, timezone, created_at, updated_at) VALUES
		 ('a@example.com', 'high', 'UTC', '2026-11-01', '2026-11-01'), ('b@example.com', 'low', 'UTC', '2026-11-01', '2026-11-01')`,
		`INSERT INTO campaigns (name, topic, category, priority, content, status, created_at, updated_at)
		 VALUES ('C', 'offers', 'marketing', 50, '{}', 'completed', '2026-11-20', '2026-11-20')`,
		`INSERT INTO campaign_runs (campaign_id, fire_at, status, created_at, updated_at)
		 SELECT id, '2026-11-23 09:00Z', 'completed', '2026-11-23 09:00Z', '2026-11-23 09:00Z' FROM campaigns`,
		`INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, planned_for, sent_at, created_at, updated_at, history_at)
		 SELECT r.id, r.campaign_id, c.id, true, 50, c.tier, 'sent', 'sent', '2026-11-23 10:00Z', '2026-11-23 10:00Z', r.fire_at, r.fire_at, '2026-11-23 10:00Z'
		 FROM campaign_runs r, contacts c`,
	} {
		_, err := b.pool.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	rollup := NewInsightRollupWorker(tuning.New(b.store, b.svc, tuning.Config{Clock: clock}))
	prune := NewPruneHistoryWorker(b.store, 12*time.Hour, nil)
	count := func() (deliveries, rolledUp int64) {
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM deliveries),
			(SELECT coalesce(sum(n), 0) FROM insight_contact_sends)`).Scan(&deliveries, &rolledUp))
		return
	}

	// Two days on, but the rollup has not run: nothing goes.
	clock.Add(48 * time.Hour)
	require.NoError(t, prune.Work(ctx, &river.Job[PruneHistoryArgs]{}))
	d, r := count()
	require.Equal(t, []int64{2, 0}, []int64{d, r})

	// The rollup closes the 23rd and 24th; then the sends of the 23rd go,
	// and the rollup still counts them.
	require.NoError(t, rollup.Work(ctx, &river.Job[InsightRollupArgs]{}))
	require.NoError(t, prune.Work(ctx, &river.Job[PruneHistoryArgs]{}))
	d, r = count()
	require.Equal(t, []int64{0, 2}, []int64{d, r})
	var sent int64
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT coalesce(sum(sent), 0) FROM insight_daily").Scan(&sent))
	require.Equal(t, int64(2), sent)
}
