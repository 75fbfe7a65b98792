package jobs

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// TestPlanningSeesTiersCreatedMeanwhile: a planning job loads the tiers
// once; contacts given a tier created after that are planned by its rule,
// not skipped and never planned without one.
func TestPlanningSeesTiersCreatedMeanwhile(t *testing.T) {
	b := setup(t, &fakeClock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)})
	ctx := context.Background()
	w := b.newWorkers().Plan
	tiers, err := b.store.Tiers(ctx)
	require.NoError(t, err)
	p := planner.New(tiers, time.UTC, time.Minute)

	fresh := outreach.Tier{Key: "fresh", Name: "Fresh", Rank: 5, Rule: outreach.Rule{
		Caps: []outreach.Cap{{Max: 1, Window: outreach.Duration(7 * 24 * time.Hour)}}, SendWindow: outreach.AlwaysOpen}}
	_, err = b.store.CreateTier(ctx, "test", fresh)
	require.NoError(t, err)
	known := planner.Target{Contact: outreach.Contact{ID: 1, Tier: "medium"}}
	require.NoError(t, w.refreshTiers(ctx, p, []planner.Target{known}))
	require.NotContains(t, p.Tiers, "fresh", "nothing new named: the tiers are not read again")

	newcomer := planner.Target{Contact: outreach.Contact{ID: 2, Tier: "fresh", Status: outreach.StatusActive}}
	require.NoError(t, w.refreshTiers(ctx, p, []planner.Target{known, newcomer}))
	require.Contains(t, p.Tiers, "fresh")
	require.Equal(t, time.UTC, p.DefaultZone, "the planner's settings stay")
	run := planner.Run{Campaign: outreach.Campaign{ID: 1, Category: outreach.Marketing, Priority: 50}, FireAt: b.clock.Now()}
	o := p.Plan(run, newcomer, b.clock.Now(), rand.New(rand.NewPCG(1, 2)))
	require.Equal(t, outreach.DeliveryScheduled, o.State)
	require.Equal(t, "fresh", o.Tier)
}

// TestPlanningReadsFurtherBackForANewTier: when a tier created after the
// job loaded the tiers looks further back than any it had, the batch's
// history is read again that far, so its caps count every send in their
// window.
func TestPlanningReadsFurtherBackForANewTier(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	b := setup(t, &fakeClock{now: now})
	ctx := context.Background()
	w := b.newWorkers().Plan
	tiers, err := b.store.Tiers(ctx)
	require.NoError(t, err)
	p := planner.New(tiers, time.UTC, time.Minute)
	require.Equal(t, 30*24*time.Hour, p.Window(), "the seeded tiers look back 30 days")

	day := 24 * time.Hour
	_, err = b.store.CreateTier(ctx, "test", outreach.Tier{Key: "slow", Name: "Slow", Rank: 5, Rule: outreach.Rule{
		Caps: []outreach.Cap{{Max: 1, Window: outreach.Duration(60 * day)}}, SendWindow: outreach.AlwaysOpen}})
	require.NoError(t, err)
	b.contacts(t, 1, "slow", "UTC")
	var contact int64
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT id FROM contacts").Scan(&contact))
	sent := now.Add(-45 * day) // inside the new tier's 60 days, outside the old 30
	_, err = b.pool.Exec(ctx, `INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason,
		planned_for, sent_at, created_at, updated_at, history_at) VALUES (999, 999, $1, true, 50, 'slow', 'sent', 'sent', $2, $2, $2, $2, $2)`, contact, sent)
	require.NoError(t, err)

	camp := b.campaign(t, "after", 50, 0)
	runID := b.startRun(t, camp, now)
	run := planner.Run{Campaign: camp, ID: runID, FireAt: now}
	wctx := rivertest.WorkContext(ctx, b.insert) // planBatch enqueues the send through River
	require.NoError(t, b.store.InTx(ctx, func(tx *postgres.Tx) error {
		n, _, err := w.planBatch(wctx, tx, p, run, 0, contact, rand.New(rand.NewPCG(1, 2)))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		return nil
	}))
	var reason string
	var planned time.Time
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT reason, planned_for FROM deliveries WHERE run_id = $1", runID).Scan(&reason, &planned))
	require.Equal(t, string(outreach.ReasonDeferredCap), reason, "the send 45 days ago fills the 60-day cap")
	require.False(t, planned.Before(sent.Add(60*day)), "planned for %v", planned)
}
