package jobs

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/tuning"
)

// TestInsightRollupWorkerConcurrent runs the rollup job from several
// workers at once and again a day later: the rollups count each send and
// each event once, and the day closes once.
func TestInsightRollupWorkerConcurrent(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	clock.Set(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	b := setup(t, clock)
	ctx := context.Background()
	for _, stmt := range []string{
		`INSERT INTO contacts (email, tier, timezone, status, created_at, updated_at) VALUES
		 ('a@example.com', 'high', 'UTC', 'unsubscribed', '2026-11-01', '2026-11-01'), ('b@example.com', 'low', 'UTC', 'active', '2026-11-01', '2026-11-01')`,
		`INSERT INTO campaigns (name, topic, category, priority, content, status, created_at, updated_at)
		 VALUES ('C', 'offers', 'marketing', 50, '{}', 'completed', '2026-11-20', '2026-11-20')`,
		`INSERT INTO campaign_runs (campaign_id, fire_at, expires_at, status, created_at, updated_at)
		 SELECT id, '2026-11-23 09:00Z', '2026-11-25 09:00Z', 'completed', '2026-11-23 09:00Z', '2026-11-23 09:00Z' FROM campaigns`,
		`INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, planned_for, sent_at, created_at, updated_at)
		 SELECT r.id, r.campaign_id, c.id, true, 50, c.tier, 'sent', 'sent', '2026-11-23 10:00Z', '2026-11-23 10:00Z', r.fire_at, r.fire_at
		 FROM campaign_runs r, contacts c`,
		`INSERT INTO contact_events (contact_id, kind, detail, actor, created_at)
		 SELECT id, 'unsubscribed', '{}', 'customer', '2026-11-23 18:00Z' FROM contacts WHERE email = 'a@example.com'`,
	} {
		_, err := b.pool.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	svc := tuning.New(b.store, b.svc, tuning.Config{Clock: clock})
	work := func(n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				require.NoError(t, NewInsightRollupWorker(svc).Work(ctx, &river.Job[InsightRollupArgs]{}))
			}()
		}
		wg.Wait()
	}
	sums := func() (sent, unsub, pressureDays int64) {
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT coalesce(sum(sent), 0), coalesce(sum(unsubscribes), 0),
			(SELECT count(DISTINCT day) FROM insight_pressure_daily) FROM insight_daily`).Scan(&sent, &unsub, &pressureDays))
		return
	}
	work(4)
	sent, unsub, days := sums()
	require.Equal(t, []int64{2, 1, 1}, []int64{sent, unsub, days}, "the 23rd closed once; the 24th open")
	clock.Add(24 * time.Hour)
	work(3)
	sent, unsub, days = sums()
	require.Equal(t, []int64{2, 1, 2}, []int64{sent, unsub, days})
	st, err := b.store.InsightState(ctx)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), st.DaysThrough)
}

func TestPeriodicJobsOnlyForRegisteredWorkers(t *testing.T) {
	t.Parallel()
	require.Len(t, PeriodicJobs(Workers{}), 1)
	require.Len(t, PeriodicJobs(Workers{Rollup: NewInsightRollupWorker(nil)}), 2)
	require.Len(t, PeriodicJobs(Workers{Rollup: NewInsightRollupWorker(nil), Webhook: NewWebhookDispatchWorker(nil, WebhookConfig{}),
		Resend: NewResendLostWorker(nil, ResendLostConfig{})}), 4)
}
