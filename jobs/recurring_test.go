package jobs

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/schedule"
)

func runs(t *testing.T, b *bundle, campaignID int64) []time.Time {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), "SELECT fire_at FROM campaign_runs WHERE campaign_id = $1 ORDER BY fire_at", campaignID)
	require.NoError(t, err)
	var out []time.Time
	for rows.Next() {
		var at time.Time
		require.NoError(t, rows.Scan(&at))
		out = append(out, at.UTC())
	}
	return out
}

// TestRecurringFiresExactlyOnce fires a weekly campaign from several
// schedulers at once, again after a "restart" (a fresh worker), and after
// downtime: each firing makes exactly one run; a missed firing runs late
// only inside its relevance window.
func TestRecurringFiresExactlyOnce(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	clock.Set(time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)) // a Monday, 07:00 in Berlin
	b := setup(t, clock)
	ctx := context.Background()
	c, err := b.store.CreateCampaign(ctx, "test", outreach.Campaign{Name: "Weekly", Topic: "offers", Category: outreach.Marketing,
		Priority: 50, Cron: "0 9 * * MON", Timezone: "Europe/Berlin", ExpiresAfter: 6 * time.Hour,
		Content: outreach.Content{Subject: "Hi", Text: "Hello", HTML: "<p>Hello</p>"}})
	require.NoError(t, err)
	c, err = b.svc.Schedule(ctx, "test", c.ID, nil)
	require.NoError(t, err)
	require.Equal(t, outreach.CampaignScheduled, c.Status)

	fire := func(n int) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := NewFireDueWorker(b.svc) // each a separate scheduler
				require.NoError(t, w.Work(ctx, &river.Job[FireDueArgs]{}))
			}()
		}
		wg.Wait()
	}
	fire(5)
	require.Empty(t, runs(t, b, c.ID), "not due before 09:00 Berlin")

	clock.Set(time.Date(2026, 11, 23, 8, 0, 30, 0, time.UTC)) // 09:00:30 Berlin
	fire(5)
	fire(3) // a restart: new schedulers, same firing
	require.Equal(t, []time.Time{time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)}, runs(t, b, c.ID))

	// Down from before the next firing until 3h after it: within the 6h
	// relevance window, it runs once on start.
	clock.Set(time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC))
	fire(4)
	require.Len(t, runs(t, b, c.ID), 2)
	require.Equal(t, time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC), runs(t, b, c.ID)[1])

	// Down for a whole week and a day past the next firing: that firing is
	// no longer relevant (older than 6h) and is dropped, not sent late.
	clock.Set(time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC))
	fire(2)
	require.Len(t, runs(t, b, c.ID), 2)
	var next time.Time
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT next_fire_at FROM campaigns WHERE id = $1", c.ID).Scan(&next))
	require.Equal(t, time.Date(2026, 12, 14, 8, 0, 0, 0, time.UTC), next.UTC())
}

func TestLatestFiringAndDST(t *testing.T) {
	t.Parallel()
	s, err := schedule.Parse("30 2 * * *", "America/New_York")
	require.NoError(t, err)
	// 02:30 does not exist on 2026-03-08 in New York: the firing comes when
	// the clock jumps, 03:00 EDT, once (robfig/cron alone would skip the
	// day; see internal/schedule).
	n := s.Next(time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC))
	require.True(t, n.After(time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC)))
	require.Equal(t, time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), n)
	first := time.Date(2026, 3, 1, 7, 30, 0, 0, time.UTC)
	latest := campaign.LatestFiring(s, first, time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC))
	require.Equal(t, time.Date(2026, 3, 4, 7, 30, 0, 0, time.UTC), latest)

	_, err = schedule.Parse("not a cron", "UTC")
	require.Error(t, err)
	_, err = schedule.Parse("@weekly", "Mars/Base")
	require.Error(t, err)
	_, err = schedule.Parse("@every 5m", "UTC")
	require.Error(t, err)
}

// TestRecurringAcrossDST steps a fake clock through New York's 2026
// daylight-saving changes every 15 minutes, running the firing each step
// (as the periodic job does every 15 s), and checks that a daily campaign
// runs exactly once per local day: at 01:30 EDT on the fall-back day (the
// wall time occurs twice; robfig/cron alone fires twice), and at 03:00 EDT
// on the spring-forward day (02:30 does not exist; robfig/cron alone skips
// the day).
func TestRecurringAcrossDST(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	for _, tc := range []struct {
		name, cron string
		from, to   time.Time
		want       []time.Time
	}{
		{"fall back", "30 1 * * *", time.Date(2026, 10, 31, 12, 0, 0, 0, ny), time.Date(2026, 11, 2, 12, 0, 0, 0, ny),
			[]time.Time{time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC)}},
		{"spring forward", "30 2 * * *", time.Date(2026, 3, 7, 12, 0, 0, 0, ny), time.Date(2026, 3, 9, 12, 0, 0, 0, ny),
			[]time.Time{time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 6, 30, 0, 0, time.UTC)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{}
			clock.Set(tc.from)
			b := setup(t, clock)
			ctx := context.Background()
			c, err := b.store.CreateCampaign(ctx, "test", outreach.Campaign{Name: "Daily", Topic: "offers", Category: outreach.Marketing,
				Priority: 50, Cron: tc.cron, Timezone: "America/New_York", ExpiresAfter: time.Hour,
				Content: outreach.Content{Subject: "Hi", Text: "Hello", HTML: "<p>Hello</p>"}})
			require.NoError(t, err)
			_, err = b.svc.Schedule(ctx, "test", c.ID, nil)
			require.NoError(t, err)
			for !clock.Now().After(tc.to) {
				require.NoError(t, b.svc.FireDue(ctx))
				clock.Add(15 * time.Minute)
			}
			require.Equal(t, tc.want, runs(t, b, c.ID), "one run per local day, at the right instant")
		})
	}
}
