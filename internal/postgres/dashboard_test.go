package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// TestDashboard computes the dashboard over known data: what counts and
// what does not, on the period's edges and beyond the deferral slack.
// Rows are written in time order, as the application writes them.
func TestDashboard(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t) // now: 2026-12-01 10:00 UTC
	ctx := context.Background()
	day := 24 * time.Hour
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s string) time.Time {
		v, err := time.Parse(time.DateTime, s)
		require.NoError(t, err)
		return v.UTC()
	}
	old := postgres.NewStore(pool, fixedClock{at("2026-09-01 12:00:00")})
	person := func(st *postgres.Store, email, tier, preferred string) outreach.Contact {
		c, _, err := st.UpsertContact(ctx, "test", outreach.Contact{Email: email, Name: email, Tier: tier, PreferredTier: preferred})
		require.NoError(t, err)
		return c
	}

	// Contacts, created on 1 September; an unsubscribe back then.
	longAgo := person(old, "long-ago@example.com", "high", "")
	_, err := old.Unsubscribe(ctx, longAgo.ID, postgres.PrefOrigin{Actor: "customer"})
	require.NoError(t, err)
	highLate := person(old, "high-late@example.com", "high", "")      // last mail 20 days ago: overdue (14d)
	highRecent := person(old, "high-recent@example.com", "high", "")  // 5 days ago: not
	askedLess := person(old, "asked-less@example.com", "high", "low") // 20 days ago, but low's target is 90d
	mediumNever := person(old, "medium-never@example.com", "medium", "")
	mediumGone := person(old, "medium-gone@example.com", "medium", "")
	lowFresh := person(old, "low-fresh@example.com", "low", "")
	setLastSent(t, pool, highLate.ID, now.Add(-20*day))
	setLastSent(t, pool, highRecent.ID, now.Add(-5*day))
	setLastSent(t, pool, askedLess.ID, now.Add(-20*day))
	setLastSent(t, pool, lowFresh.ID, now.Add(-10*day))
	_, err = pool.Exec(ctx, "UPDATE contacts SET status = 'unsubscribed' WHERE id = $1", mediumGone.ID)
	require.NoError(t, err)

	// Deliveries, in the order they were planned.
	type d struct {
		tier, state, reason string
		marketing           bool
		created, planned    string
		sent                string
	}
	for i, x := range []d{
		{"high", "sent", "sent", true, "2026-09-01 12:00:00", "2026-09-01 12:00:00", "2026-09-02 09:00:00"},   // long gone
		{"high", "scheduled", "deferred_cap", true, "2026-09-01 12:00:00", "2026-12-20 09:00:00", ""},         // planned beyond the slack
		{"medium", "sent", "sent", true, "2026-10-20 12:00:00", "2026-11-02 08:00:00", "2026-11-02 08:00:00"}, // waited 13 days: first day
		{"high", "sent", "sent", true, "2026-10-31 12:00:00", "2026-11-01 23:59:59", "2026-11-01 23:59:59"},   // the day before the period
		{"high", "sent", "sent", true, "2026-11-30 08:00:00", "2026-11-30 09:00:00", "2026-11-30 09:00:00"},
		{"high", "sent", "sent", true, "2026-11-30 08:00:00", "2026-11-30 09:00:00", "2026-11-30 23:59:59"},
		{"medium", "sent", "sent", true, "2026-11-30 08:00:00", "2026-11-30 10:00:00", "2026-11-30 10:00:00"},
		{"high", "skipped", "expired", true, "2026-11-30 08:00:00", "2026-11-30 10:00:00", ""},
		{"high", "sent", "sent", false, "2026-12-01 08:00:00", "2026-12-01 08:00:00", "2026-12-01 08:00:00"}, // transactional
		{"high", "sent", "sent", true, "2026-12-01 08:00:00", "2026-12-01 09:00:00", "2026-12-01 09:00:00"},
		{"high", "scheduled", "deferred_cap", true, "2026-12-01 08:00:00", "2026-12-05 09:00:00", ""},
		{"high", "scheduled", "deferred_cap", true, "2026-12-01 08:00:00", "2026-12-08 09:00:00", ""},
		{"medium", "scheduled", "deferred_send_window", true, "2026-12-01 08:00:00", "2026-12-01 18:00:00", ""},
		{"medium", "scheduled", "scheduled", true, "2026-12-01 08:00:00", "2026-12-01 10:30:00", ""}, // not deferred
	} {
		var sent *time.Time
		if x.sent != "" {
			v := at(x.sent)
			sent = &v
		}
		_, err := pool.Exec(ctx, `INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason,
			planned_for, sent_at, created_at, updated_at) VALUES ($9, 1, $1, $2, 50, $3, $4, $5, $6, $7, $8, $8)`,
			highLate.ID, x.marketing, x.tier, x.state, x.reason, at(x.planned), sent, at(x.created), i+1)
		require.NoError(t, err)
	}

	// This month's unsubscribes and complaints, in the store's own ways.
	_, err = s.Unsubscribe(ctx, highRecent.ID, postgres.PrefOrigin{Actor: "one-click"})
	require.NoError(t, err)
	_, err = s.Suppress(ctx, "key:admin", mediumNever.Email, outreach.SuppressUnsubscribe)
	require.NoError(t, err)
	_, err = s.Suppress(ctx, "webhook", highLate.Email, outreach.SuppressComplaint)
	require.NoError(t, err)
	_, err = s.Suppress(ctx, "key:admin", lowFresh.Email, outreach.SuppressManual) // neither
	require.NoError(t, err)

	got, err := s.Dashboard(ctx, 30)
	require.NoError(t, err)
	require.Equal(t, at("2026-11-02 00:00:00"), got.Since)
	require.Equal(t, at("2026-12-02 00:00:00"), got.Until)
	require.Equal(t, at("2026-10-03 00:00:00"), got.PlannedSince)
	require.ElementsMatch(t, []postgres.DaySent{
		{Day: at("2026-11-02 00:00:00"), Tier: "medium", N: 1},
		{Day: at("2026-11-30 00:00:00"), Tier: "high", N: 2},
		{Day: at("2026-11-30 00:00:00"), Tier: "medium", N: 1},
		{Day: at("2026-12-01 00:00:00"), Tier: "high", N: 1},
	}, got.Sent)
	require.ElementsMatch(t, []postgres.Deferred{
		{Reason: "deferred_cap", Tier: "high", N: 2, Latest: at("2026-12-08 09:00:00")},
		{Reason: "deferred_send_window", Tier: "medium", N: 1, Latest: at("2026-12-01 18:00:00")},
	}, got.Deferred, "the delivery planned before the slack is not read")
	require.ElementsMatch(t, []postgres.TierOptOuts{
		{Tier: "high", Unsubscribes: 1, Complaints: 1},
		{Tier: "medium", Unsubscribes: 1},
	}, got.OptOuts, "September's unsubscribe is before the period; a manual suppression is neither")
	require.Empty(t, got.Queue)

	// Overdue counts only active contacts: highLate complained and
	// mediumNever unsubscribed above. The counts agree with the list, tier
	// by tier.
	require.Empty(t, got.Overdue)
	require.Equal(t, overdueList(t, s), got.Overdue)
	_, err = pool.Exec(ctx, "UPDATE contacts SET status = 'active' WHERE id = ANY($1)", []int64{highLate.ID, mediumNever.ID})
	require.NoError(t, err)
	got, err = s.Dashboard(ctx, 30)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"high": 1, "medium": 1}, got.Overdue,
		"20 days without mail is overdue for high (14d); a medium never written to since September too; "+
			"asking for less moves a contact to that tier's target")
	require.Equal(t, overdueList(t, s), got.Overdue)
}

func setLastSent(t *testing.T, pool *pgxpool.Pool, id int64, at time.Time) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `INSERT INTO contact_last_sent (contact_id, last_sent_at) VALUES ($1, $2)
		ON CONFLICT (contact_id) DO UPDATE SET last_sent_at = excluded.last_sent_at`, id, at)
	require.NoError(t, err)
}

// overdueList counts Store.Overdue's list by effective tier.
func overdueList(t *testing.T, s *postgres.Store) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	tiers, err := s.Tiers(ctx)
	require.NoError(t, err)
	byKey := map[string]outreach.Tier{}
	for _, tr := range tiers {
		byKey[tr.Key] = tr
	}
	list, err := s.Overdue(ctx, 0, 1000)
	require.NoError(t, err)
	out := map[string]int64{}
	for _, c := range list {
		var pref *outreach.Tier
		if p, ok := byKey[c.PreferredTier]; ok {
			pref = &p
		}
		out[outreach.Stricter(byKey[c.Tier], pref).Key]++
	}
	return out
}
