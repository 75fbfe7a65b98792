package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

// dashboardSeedSQL makes $1 contacts and $2 deliveries planned evenly over
// the last 300 days (ids growing with time, as the planner writes them):
// mostly sent an hour after planning, one in 25 skipped, and, in the last
// tenth, one in four still waiting on a deferral. Contact events: every
// contact's creation 400 days ago, then 2% unsubscribing and 0.2%
// complaining over the last 60 days.
const dashboardSeedSQL = `
WITH c AS (
INSERT INTO contacts (email, tier, preferred_tier, timezone, status, created_at, updated_at)
SELECT 'c' || g || '@example.com', (ARRAY['low','medium','high'])[1 + g % 3], CASE WHEN g % 10 = 0 THEN 'low' END, 'UTC',
       CASE WHEN g % 50 = 0 THEN 'unsubscribed' ELSE 'active' END, now() - interval '400 days', now()
FROM generate_series(1, $1::int) g RETURNING id)
INSERT INTO contact_last_sent (contact_id, last_sent_at) SELECT id, now() - (id % 120) * interval '1 day' FROM c;
INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, planned_for, sent_at, created_at, updated_at)
SELECT (g - 1) / $1::int + 1, 1, 1 + (g - 1) % $1::int, g % 20 <> 0, 50, (ARRAY['low','medium','high'])[1 + g % 3],
       CASE WHEN g > $2::bigint * 9 / 10 AND g % 4 = 0 THEN 'scheduled' WHEN g % 25 = 0 THEN 'skipped' ELSE 'sent' END,
       CASE WHEN g > $2::bigint * 9 / 10 AND g % 4 = 0 THEN (ARRAY['deferred_cap','deferred_send_window'])[1 + g % 2]
            WHEN g % 25 = 0 THEN 'expired' ELSE 'sent' END,
       t.at + interval '3 days',
       CASE WHEN (g > $2::bigint * 9 / 10 AND g % 4 = 0) OR g % 25 = 0 THEN NULL ELSE t.at + interval '1 hour' END,
       t.at, t.at
FROM generate_series(1, $2::bigint) g,
     LATERAL (SELECT now() - interval '300 days' * (1 - g::float8 / $2::bigint) AS at) t;
INSERT INTO contact_events (contact_id, kind, detail, actor, created_at)
SELECT id, 'contact_create', '{}', 'import', created_at FROM contacts ORDER BY id;
INSERT INTO contact_events (contact_id, kind, detail, actor, created_at)
SELECT id, CASE WHEN id % 500 = 0 THEN 'suppressed' ELSE 'unsubscribed' END,
       CASE WHEN id % 500 = 0 THEN '{"reason": "complaint"}'::jsonb ELSE '{}'::jsonb END, 'customer',
       now() - (id % 60) * interval '1 day' - (id % 86400) * interval '1 second'
FROM contacts WHERE id % 50 = 0 OR id % 500 = 0
ORDER BY 5;
VACUUM ANALYZE`

// dashboardDeliveriesSQL is the dashboard's pass over the deliveries (as
// DashboardDeliveries in internal/postgres/queries/dashboard.sql), timed
// from the period's first id and, as the baseline, from id 0: every
// delivery.
const dashboardDeliveriesSQL = `SELECT tier, reason,
       (CASE WHEN state = 'sent' THEN date_bin('1 day', sent_at, $2::timestamptz) ELSE $2::timestamptz END)::timestamptz AS day,
       count(*)::bigint AS n, max(planned_for)::timestamptz AS latest
FROM deliveries
WHERE id >= $1
  AND ((marketing AND state = 'sent' AND sent_at >= $2::timestamptz AND sent_at < $3::timestamptz)
       OR (state = 'scheduled' AND reason IN ('deferred_cap', 'deferred_min_gap', 'deferred_send_window')))
GROUP BY 1, 2, 3`

// BenchmarkDashboard computes the console dashboard's figures over
// BENCH_CONTACTS contacts (1,000,000) and ten times as many deliveries
// spread over 300 days, and times its pass over the deliveries against
// the baseline of the same pass over all of them.
func BenchmarkDashboard(b *testing.B) {
	n := contactsFromEnv()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.URL(b), 4)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	store := postgres.NewStore(pool, outreach.SystemClock{})
	if err := store.Seed(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i, stmt := range strings.Split(dashboardSeedSQL, ";\n") {
		var args []any
		switch i {
		case 0:
			args = []any{n}
		case 1:
			args = []any{n, int64(10 * n)}
		}
		if _, err := pool.Exec(ctx, stmt, args...); err != nil {
			b.Fatalf("seed %d: %v", i, err)
		}
	}
	fmt.Printf("# seeded %d contacts, %d deliveries over 300 days\n", n, 10*n)
	fmt.Printf("dashboard_seed_seconds: %.1f s\n", time.Since(start).Seconds())

	measure := func(f func() error) (best, median time.Duration) {
		var ts []time.Duration
		for range 5 {
			t0 := time.Now()
			if err := f(); err != nil {
				b.Fatal(err)
			}
			ts = append(ts, time.Since(t0))
		}
		slices.Sort(ts)
		return ts[0], ts[len(ts)/2]
	}
	b.ResetTimer()
	var d postgres.Dashboard
	best, median := measure(func() (err error) { d, err = store.Dashboard(ctx, 30); return err })
	b.StopTimer()
	var sent, deferred int64
	for _, s := range d.Sent {
		sent += s.N
	}
	for _, x := range d.Deferred {
		deferred += x.N
	}
	var read int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM deliveries WHERE created_at >= $1", d.PlannedSince).Scan(&read); err != nil {
		b.Fatal(err)
	}
	var from int64
	if err := pool.QueryRow(ctx, "SELECT coalesce(min(id), 0) FROM deliveries WHERE created_at >= $1", d.PlannedSince).Scan(&from); err != nil {
		b.Fatal(err)
	}
	pass := func(from int64) func() error {
		return func() error {
			tx, err := pool.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx) //nolint:errcheck
			if _, err := tx.Exec(ctx, "SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true)"); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, dashboardDeliveriesSQL, from, d.Since, d.Until)
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		}
	}
	boundBest, boundMedian := measure(pass(from))
	scanBest, scanMedian := measure(pass(0))
	overdueBest, _ := measure(func() error { _, err := store.Overdue(ctx, 0, 50); return err })
	fmt.Printf("dashboard_sent_30d: %d messages\n", sent)
	fmt.Printf("dashboard_deferred_waiting: %d deliveries\n", deferred)
	fmt.Printf("dashboard_overdue: %v\n", d.Overdue)
	fmt.Printf("dashboard_optouts: %v\n", d.OptOuts)
	fmt.Printf("dashboard_deliveries_read: %d of %d\n", read, 10*n)
	fmt.Printf("dashboard_ms: %.0f ms best, %.0f ms median (whole store.Dashboard)\n", ms(best), ms(median))
	fmt.Printf("dashboard_deliveries_pass_ms: %.0f ms best, %.0f ms median (from the period's first id)\n", ms(boundBest), ms(boundMedian))
	fmt.Printf("dashboard_deliveries_pass_baseline_ms: %.0f ms best, %.0f ms median (the same pass over every delivery)\n", ms(scanBest), ms(scanMedian))
	fmt.Printf("dashboard_overdue_first_page_ms: %.0f ms\n", ms(overdueBest))
	b.ReportMetric(ms(median), "dashboard-ms")
}
