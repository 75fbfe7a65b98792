package jobs

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
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
