package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/token"
	"github.com/rapport-dev/rapport/jobs"
)

// seedSQL makes n contacts over the three default tiers and four zones, each
// with about two prior marketing deliveries: one sent in the last four
// weeks, and either a second sent one or a reservation in the coming days.
const seedSQL = `
INSERT INTO contacts (email, tier, timezone, created_at, updated_at)
SELECT 'c' || g || '@example.com', (ARRAY['low','medium','high'])[1 + g % 3],
       (ARRAY['UTC','Europe/Berlin','America/New_York','Asia/Kolkata'])[1 + g % 4], now(), now()
FROM generate_series(1, $1::int) g;
INSERT INTO campaigns (name, topic, category, priority, content, created_at, updated_at)
VALUES ('history 1', 'offers', 'marketing', 50, '{}', now(), now()), ('history 2', 'offers', 'marketing', 50, '{}', now(), now());
INSERT INTO campaign_runs (campaign_id, fire_at, status, created_at, updated_at)
VALUES (1, now() - interval '30 days', 'planned', now(), now()), (2, now() - interval '5 days', 'planned', now(), now());
INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, planned_for, sent_at, created_at, updated_at)
SELECT 1, 1, id, true, 50, tier, 'sent', 'sent', now() - (1 + id % 28) * interval '1 day',
       now() - (1 + id % 28) * interval '1 day', now(), now() FROM contacts;
INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, planned_for, sent_at, created_at, updated_at)
SELECT 2, 2, id, true, 40, tier,
       CASE WHEN id % 2 = 0 THEN 'scheduled' ELSE 'sent' END,
       CASE WHEN id % 2 = 0 THEN 'scheduled' ELSE 'sent' END,
       CASE WHEN id % 2 = 0 THEN now() + (1 + id % 10) * interval '1 day' ELSE now() - interval '3 days' END,
       CASE WHEN id % 2 = 0 THEN NULL ELSE now() - interval '3 days' END, now(), now() FROM contacts;
ANALYZE;`

func contactsFromEnv() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_CONTACTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// BenchmarkPlanMillion plans one campaign over a million contacts with a
// mixed history: reservations COPYed and River send jobs inserted, batch by
// batch, exactly as `send` does it.
func BenchmarkPlanMillion(b *testing.B) {
	n := contactsFromEnv()
	ctx := context.Background()
	dbURL := pgtest.URL(b)
	pool, err := postgres.Open(ctx, dbURL, 20)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	store := postgres.NewStore(pool, outreach.SystemClock{})
	if err := store.Seed(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i, stmt := range strings.Split(seedSQL, ";\n") {
		var args []any
		if i == 0 {
			args = append(args, n)
		}
		if _, err := pool.Exec(ctx, stmt, args...); err != nil {
			b.Fatal(err)
		}
	}
	fmt.Printf("# seeded %d contacts with %d prior deliveries\n", n, 2*n)
	fmt.Printf("seed_seconds: %.1f s\n", time.Since(start).Seconds())

	signer, _ := token.New([]string{"bench-secret-0123456789abcdefghijklmnopqrstuv"})
	renderer, _ := render.New(render.Company{Name: "Bench", Address: "1 Bench Way"})
	outbox, _ := mailer.NewOutbox(b.TempDir(), nil)
	pub, _ := url.Parse("https://mail.example.test")
	clock := outreach.SystemClock{}
	svc, ws := benchWorkers(b, pool, store, clock, renderer, signer, pub, outbox, 100, nil, 0, 0)
	workers := river.NewWorkers()
	jobs.Register(workers, ws)
	rc, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler), Workers: workers,
		Queues: map[string]river.QueueConfig{jobs.QueuePlan: {MaxWorkers: 2}}, FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	camp, err := store.CreateCampaign(ctx, "bench", outreach.Campaign{Name: "Million", Topic: "offers", Category: outreach.Marketing,
		Priority: 60, ExpiresAfter: 14 * 24 * time.Hour, Content: outreach.Content{Subject: "Hi", Text: "Hello", HTML: "<p>Hello</p>"}})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	ResetPeakRSS()
	b.ResetTimer()
	start = time.Now()
	if err := rc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	_, runID, _, err := svc.Send(ctx, "bench", camp.ID, nil)
	if err != nil {
		b.Fatal(err)
	}
	for {
		var status string
		if err := pool.QueryRow(ctx, "SELECT status FROM campaign_runs WHERE id = $1", runID).Scan(&status); err != nil {
			b.Fatal(err)
		}
		if status == "planned" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	peak := PeakRSSMB()
	_ = rc.Stop(ctx)
	var deliveries, sendJobs int
	_ = pool.QueryRow(ctx, "SELECT count(*) FROM deliveries WHERE run_id = $1", runID).Scan(&deliveries)
	_ = pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'send_batch'").Scan(&sendJobs)
	if deliveries != n {
		b.Fatalf("planned %d deliveries, want %d", deliveries, n)
	}
	rows, _ := pool.Query(ctx, "SELECT reason, count(*) FROM deliveries WHERE run_id = $1 GROUP BY 1 ORDER BY 2 DESC", runID)
	for rows.Next() {
		var r string
		var c int
		_ = rows.Scan(&r, &c)
		fmt.Printf("plan_reason_%s: %d deliveries\n", r, c)
	}
	fmt.Printf("plan_contacts: %d contacts\n", n)
	fmt.Printf("plan_seconds: %.1f s\n", elapsed.Seconds())
	fmt.Printf("plan_contacts_per_s: %.0f contacts/s\n", float64(n)/elapsed.Seconds())
	fmt.Printf("plan_send_jobs: %d jobs\n", sendJobs)
	fmt.Printf("plan_peak_rss_mb: %.0f MB\n", peak)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "contacts/s")
	b.ReportMetric(peak, "peak-RSS-MB")
}
