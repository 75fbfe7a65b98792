package campaign_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/token"
)

type noQueue struct{}

func (noQueue) PlanRun(context.Context, *postgres.Tx, int64, int64, int64) error { return nil }
func (noQueue) ReplanCampaign(context.Context, *postgres.Tx, int64) error        { return nil }

// TestForecastSample: over an audience larger than the budget, the
// sampled forecast plans only the budget and its estimate is close to the
// exact forecast; within the budget it is the exact one.
func TestForecastSample(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	store := postgres.NewStore(pool, nil)
	require.NoError(t, store.Seed(ctx))
	// 3,000 contacts, one in three unsubscribed, half of the rest opted out
	// of offers; only "high" and "medium" are in the audience.
	_, err := pool.Exec(ctx, `INSERT INTO contacts (email, tier, timezone, status, topics_opted_out, created_at, updated_at)
		SELECT 'c' || g || '@example.com', (ARRAY['low','medium','high'])[1 + g % 3], 'UTC',
		       CASE WHEN g % 3 = 1 THEN 'unsubscribed' ELSE 'active' END,
		       CASE WHEN g % 2 = 0 THEN ARRAY['offers'] ELSE ARRAY[]::text[] END, now(), now()
		FROM generate_series(1, 3000) g`)
	require.NoError(t, err)
	signer, err := token.New([]string{"campaign-test-secret-0123456789abcdefghij"})
	require.NoError(t, err)
	renderer, err := render.New(render.Company{Name: "T", Address: "A"})
	require.NoError(t, err)
	base, _ := url.Parse("https://mail.example.test")
	svc := campaign.New(store, noQueue{}, campaign.Config{Renderer: renderer, Links: token.Links{Signer: signer, Base: base}})
	c, _, err := svc.Create(ctx, "test", campaign.Draft{Name: "Offers", Topic: "offers",
		Content: outreach.Content{Subject: "S", Text: "T", HTML: "<p>H</p>"}, Audience: outreach.Audience{Tiers: []string{"high", "medium"}}}, nil)
	require.NoError(t, err)

	exact, err := svc.Forecast(ctx, c.ID)
	require.NoError(t, err)
	require.False(t, exact.Estimated)
	require.Equal(t, 2000, exact.Contacts)

	est, err := svc.ForecastSample(ctx, c.ID, 300)
	require.NoError(t, err)
	require.True(t, est.Estimated)
	require.Equal(t, 300, est.Sampled)
	require.InDelta(t, exact.Contacts, est.Contacts, 0.05*float64(exact.Contacts))
	for tier, e := range exact.Tiers {
		g := est.Tiers[tier]
		require.NotNil(t, g, tier)
		require.InDelta(t, e.Now, g.Now, 0.1*float64(exact.Contacts), tier)
		require.InDelta(t, e.Skipped[outreach.ReasonTopicOptOut], g.Skipped[outreach.ReasonTopicOptOut], 0.1*float64(exact.Contacts), tier)
	}

	same, err := svc.ForecastSample(ctx, c.ID, 5000)
	require.NoError(t, err)
	require.False(t, same.Estimated, "within the budget: exact")
	require.Equal(t, exact.Contacts, same.Contacts)
	require.Equal(t, exact.Reasons, same.Reasons)
}
