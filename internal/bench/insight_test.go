package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
	"github.com/rapport-dev/rapport/internal/tuning"
)

// insightScale is the contacts of the insight benchmarks
// (BENCH_INSIGHT_CONTACTS, default 1,000,000); deliveries are ten per
// contact.
func insightScale() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_INSIGHT_CONTACTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// seedStatements runs SQL statements split on ";\n", with $1, $2, …
// replaced by args written as SQL literals (numbers as they are, times
// quoted), so a statement may use any of them.
func seedStatements(b *testing.B, pool *pgxpool.Pool, sql string, args ...any) {
	b.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET synchronous_commit = off; SET maintenance_work_mem = '512MB'; SET work_mem = '256MB'"); err != nil {
		b.Fatal(err)
	}
	for i := len(args) - 1; i >= 0; i-- {
		lit := fmt.Sprint(args[i])
		if t, ok := args[i].(time.Time); ok {
			lit = "'" + t.UTC().Format(time.RFC3339Nano) + "'"
		}
		sql = strings.ReplaceAll(sql, "$"+strconv.Itoa(i+1), lit)
	}
	for _, stmt := range strings.Split(sql, ";\n") {
		if stmt = strings.TrimSpace(stmt); stmt == "" {
			continue
		}
		if _, err := conn.Exec(ctx, stmt); err != nil {
			b.Fatalf("%v\n%s", err, stmt)
		}
	}
}

// rollupSeedSQL makes $1 contacts over the three default tiers (created
// before the history) and $3 days of history from $2: one campaign run a
// day at 09:00 expiring after 7 days, each for a sixth of the contacts —
// ten deliveries per contact over 60 days, written run by run as the
// planner writes them. 5% of them expired; of the
// rest one in ten sent a day or two late, the others within 8 hours.
// Timeline events for a fifth of the contacts, one each, spread over the
// days: unsubscribes, pauses, preference changes (a downgrade and a topic
// opt-out) and suppressions (complaints and hard bounces).
const rollupSeedSQL = `
INSERT INTO contacts (email, tier, timezone, status, created_at, updated_at)
SELECT 'c' || g || '@example.com', (ARRAY['low','medium','high'])[1 + g % 3], 'UTC', 'active', $2::timestamptz - interval '10 days', $2::timestamptz - interval '10 days'
FROM generate_series(1, $1::int) g;
INSERT INTO campaigns (name, topic, category, priority, content, status, created_at, updated_at)
SELECT 'history ' || d, 'offers', 'marketing', 50, '{}', 'completed', now(), now() FROM generate_series(1, $3::int) d;
INSERT INTO campaign_runs (campaign_id, fire_at, expires_at, status, created_at, updated_at)
SELECT d, $2::timestamptz + (d - 1) * interval '1 day' + interval '9 hours',
       $2::timestamptz + (d + 6) * interval '1 day' + interval '9 hours', 'completed', now(), now()
FROM generate_series(1, $3::int) d;
INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, planned_for, expires_at, sent_at, created_at, updated_at)
SELECT r.id, r.campaign_id, c.id, true, 50, c.tier,
       CASE WHEN c.id % 20 = 0 THEN 'skipped' ELSE 'sent' END,
       CASE WHEN c.id % 20 = 0 THEN 'expired' ELSE 'sent' END,
       r.fire_at + (c.id % 10 = 1)::int * ((c.id / 10) % 2 + 1) * interval '1 day' + (c.id % 480) * interval '1 minute',
       r.expires_at,
       CASE WHEN c.id % 20 = 0 THEN NULL
            ELSE r.fire_at + (c.id % 10 = 1)::int * ((c.id / 10) % 2 + 1) * interval '1 day' + (c.id % 480) * interval '1 minute' END,
       r.fire_at, r.fire_at
FROM campaign_runs r JOIN contacts c ON (c.id + r.id * 7) % 6 = 0
ORDER BY r.id, c.id;
INSERT INTO contact_events (contact_id, kind, detail, actor, created_at)
SELECT c.id,
       (ARRAY['unsubscribed', 'paused', 'preferences_changed', 'suppressed'])[1 + (c.id / 5) % 4],
       (CASE (c.id / 5) % 4
          WHEN 2 THEN '{"before":{"preferred_tier":"","topics_opted_out":[]},"after":{"preferred_tier":"low","topics_opted_out":["offers"]}}'
          WHEN 3 THEN CASE WHEN c.id % 2 = 0 THEN '{"reason":"complaint"}' ELSE '{"reason":"hard_bounce"}' END
          ELSE '{}' END)::jsonb,
       'customer', $2::timestamptz + ((c.id / 5) % $3::int) * interval '1 day' + interval '15 hours'
FROM contacts c WHERE c.id % 5 = 2;
UPDATE contacts SET status = 'unsubscribed' WHERE id % 5 = 2 AND (id / 5) % 4 = 0;
ANALYZE`

// oneMoreDaySQL is the next day: a run at $1 09:00 for a sixth of the
// contacts, sent within 8 hours, and a thousand events.
const oneMoreDaySQL = `
INSERT INTO campaigns (name, topic, category, priority, content, status, created_at, updated_at)
VALUES ('next day', 'offers', 'marketing', 50, '{}', 'completed', now(), now());
INSERT INTO campaign_runs (campaign_id, fire_at, expires_at, status, created_at, updated_at)
SELECT max(id), $1::timestamptz + interval '9 hours', $1::timestamptz + interval '7 days', 'completed', now(), now() FROM campaigns;
INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, planned_for, expires_at, sent_at, created_at, updated_at)
SELECT r.id, r.campaign_id, c.id, true, 50, c.tier, 'sent', 'sent', r.fire_at + (c.id % 480) * interval '1 minute', r.expires_at,
       r.fire_at + (c.id % 480) * interval '1 minute', r.fire_at, r.fire_at
FROM (SELECT * FROM campaign_runs ORDER BY id DESC LIMIT 1) r JOIN contacts c ON c.id % 6 = 1;
INSERT INTO contact_events (contact_id, kind, detail, actor, created_at)
SELECT id, 'paused', '{}', 'customer', $1::timestamptz + interval '18 hours' FROM contacts WHERE id % 1000 = 3`

// BenchmarkInsightRollup measures the fatigue and pressure rollups over a
// million contacts and ten million deliveries (BENCH_INSIGHT_CONTACTS
// scales both): the first rollup over 60 days of history, the daily
// increment, and the read latency of the two endpoints' store calls.
func BenchmarkInsightRollup(b *testing.B) {
	if testing.Short() {
		b.Skip("heavy: a million contacts and ten million deliveries")
	}
	n := insightScale()
	const days = 60
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.URL(b), 8)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	store := postgres.NewStore(pool, outreach.SystemClock{})
	if err := store.Seed(ctx); err != nil {
		b.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	start := today.AddDate(0, 0, -days-2)
	t0 := time.Now()
	seedStatements(b, pool, rollupSeedSQL, n, start, days)
	var deliveries, events int64
	_ = pool.QueryRow(ctx, "SELECT count(*) FROM deliveries").Scan(&deliveries)
	_ = pool.QueryRow(ctx, "SELECT count(*) FROM contact_events").Scan(&events)
	fmt.Printf("# %d contacts, %d deliveries over %d days, %d timeline events\n", n, deliveries, days, events)
	fmt.Printf("insight_seed_seconds: %.1f s\n", time.Since(t0).Seconds())

	// The first rollup, as of 02:00 today: every day of the history closes.
	now := today.Add(2 * time.Hour)
	b.ResetTimer()
	t0 = time.Now()
	rep, err := store.RollupInsights(ctx, now, postgres.RollupOptions{})
	if err != nil {
		b.Fatal(err)
	}
	initial := time.Since(t0)
	fmt.Printf("# first rollup: %d negative events, %d days closed, %d open\n", rep.Events, rep.ClosedDays, rep.OpenDays)
	fmt.Printf("insight_rollup_initial_seconds: %.1f s\n", initial.Seconds())
	fmt.Printf("insight_rollup_initial_events_seconds: %.1f s\n", rep.EventsTime.Seconds())
	fmt.Printf("insight_rollup_initial_per_closed_day_ms: %.0f ms\n", float64(rep.ClosedTime.Milliseconds())/float64(max(rep.ClosedDays, 1)))

	// The same again: nothing new, only today recomputed.
	t0 = time.Now()
	if _, err := store.RollupInsights(ctx, now.Add(5*time.Minute), postgres.RollupOptions{}); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("insight_rollup_rerun_ms: %d ms\n", time.Since(t0).Milliseconds())

	// A day later, with a day's new sends and events.
	seedStatements(b, pool, oneMoreDaySQL, today)
	t0 = time.Now()
	rep, err = store.RollupInsights(ctx, now.AddDate(0, 0, 1), postgres.RollupOptions{})
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("# daily increment: %d negative events, %d day closed, %d open\n", rep.Events, rep.ClosedDays, rep.OpenDays)
	fmt.Printf("insight_rollup_daily_seconds: %.2f s\n", time.Since(t0).Seconds())
	b.StopTimer()

	fatigue := latency(func() error {
		_, _, err := store.Fatigue(ctx, today.AddDate(0, 0, -56), today, "")
		return err
	})
	pressure := latency(func() error {
		_, err := store.Pressure(ctx, today.AddDate(0, 0, -90), today, "")
		return err
	})
	fmt.Printf("# read latency over 20 calls: fatigue of 8 weeks, pressure of 90 days, every tier\n")
	fmt.Printf("insight_fatigue_read_p50_ms: %.1f ms\n", ms(fatigue[len(fatigue)/2]))
	fmt.Printf("insight_fatigue_read_max_ms: %.1f ms\n", ms(fatigue[len(fatigue)-1]))
	fmt.Printf("insight_pressure_read_p50_ms: %.1f ms\n", ms(pressure[len(pressure)/2]))
	fmt.Printf("insight_pressure_read_max_ms: %.1f ms\n", ms(pressure[len(pressure)-1]))
	b.ReportMetric(initial.Seconds(), "initial-s")
}

func latency(f func() error) []time.Duration {
	var out []time.Duration
	for range 20 {
		t0 := time.Now()
		if err := f(); err != nil {
			panic(err)
		}
		out = append(out, time.Since(t0))
	}
	slices.Sort(out)
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// replaySeedSQL makes $1 contacts on the high tier and $3 daily runs
// from $2, each for a third of them (ten deliveries per contact over 30
// days), recorded as the high rule (1/24h, 3/7d) would roughly have them:
// one in nine expired, the rest sent at the firing.
const replaySeedSQL = `
INSERT INTO contacts (email, tier, timezone, status, created_at, updated_at)
SELECT 'r' || g || '@example.com', 'high', (ARRAY['UTC','Europe/Berlin','America/New_York','Asia/Kolkata'])[1 + g % 4], 'active',
       $2::timestamptz - interval '10 days', $2::timestamptz - interval '10 days'
FROM generate_series(1, $1::int) g;
INSERT INTO campaigns (name, topic, category, priority, content, status, created_at, updated_at)
SELECT 'replay ' || d, 'offers', 'marketing', 30 + d % 3 * 10, '{}', 'completed', now(), now() FROM generate_series(1, $3::int) d;
INSERT INTO campaign_runs (campaign_id, fire_at, expires_at, status, created_at, updated_at)
SELECT d, $2::timestamptz + (d - 1) * interval '1 day' + interval '10 hours',
       $2::timestamptz + (d - 1) * interval '1 day' + interval '34 hours', 'completed', now(), now()
FROM generate_series(1, $3::int) d;
INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, planned_for, expires_at, sent_at, created_at, updated_at)
SELECT r.id, r.campaign_id, c.id, true, 30 + r.id % 3 * 10, 'high',
       CASE WHEN ((c.id + r.id) / 3) % 9 = 0 THEN 'skipped' ELSE 'sent' END,
       CASE WHEN ((c.id + r.id) / 3) % 9 = 0 THEN 'expired' ELSE 'sent' END,
       r.fire_at, r.expires_at,
       CASE WHEN ((c.id + r.id) / 3) % 9 = 0 THEN NULL ELSE r.fire_at END,
       r.fire_at, r.fire_at
FROM campaign_runs r JOIN contacts c ON (c.id + r.id) % 3 = 0
ORDER BY r.id, c.id;
ANALYZE`

// BenchmarkWhatIfReplay replays a proposed rule for the high tier over
// 30 days: a million deliveries of 100,000 contacts (a tenth of
// BENCH_INSIGHT_CONTACTS), split into reading and deciding.
func BenchmarkWhatIfReplay(b *testing.B) {
	n := insightScale() / 10
	const days = 30
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.URL(b), 8)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	store := postgres.NewStore(pool, outreach.SystemClock{})
	if err := store.Seed(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	start := now.Truncate(24*time.Hour).AddDate(0, 0, -days)
	t0 := time.Now()
	seedStatements(b, pool, replaySeedSQL, n, start, days)
	var deliveries int64
	_ = pool.QueryRow(ctx, "SELECT count(*) FROM deliveries").Scan(&deliveries)
	fmt.Printf("# %d contacts on high, %d deliveries over %d days\n", n, deliveries, days)
	fmt.Printf("whatif_seed_seconds: %.1f s\n", time.Since(t0).Seconds())
	high, err := store.Tier(ctx, "high")
	if err != nil {
		b.Fatal(err)
	}
	proposed := high
	proposed.Rule.Caps = []outreach.Cap{{Max: 1, Window: outreach.Duration(48 * time.Hour)}, {Max: 2, Window: outreach.Duration(7 * 24 * time.Hour)}}
	svc := tuning.New(store, campaign.New(store, nil, campaign.Config{}), tuning.Config{})
	b.ResetTimer()
	t0 = time.Now()
	w, err := svc.WhatIf(ctx, proposed, days)
	if err != nil {
		b.Fatal(err)
	}
	total := time.Since(t0)
	b.StopTimer()
	r := w.Replay
	fmt.Printf("# replayed %d deliveries of %d contacts: sent %d → %d, expired %d → %d\n", r.Deliveries, r.Contacts,
		r.Before.Sent, r.After.Sent, r.Before.Expired, r.After.Expired)
	fmt.Printf("whatif_deliveries: %d deliveries\n", r.Deliveries)
	fmt.Printf("whatif_seconds: %.2f s\n", total.Seconds())
	fmt.Printf("whatif_read_seconds: %.2f s\n", w.ReadTime.Seconds())
	fmt.Printf("whatif_decide_seconds: %.2f s\n", w.DecideTime.Seconds())
	fmt.Printf("whatif_deliveries_per_s: %.0f deliveries/s\n", float64(r.Deliveries)/total.Seconds())
	b.ReportMetric(total.Seconds(), "s")
}
