package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/token"
	"github.com/rapport-dev/rapport/jobs"
)

// historySeedSQL makes $1 contacts, each with $2 old marketing deliveries
// sent over the year before the last 35 days (outside every default cap
// window, so they change no decision) and the same two recent ones as
// seedSQL. Old rows are written run by run, as years of campaigns would
// have written them: ids and heap order follow time. Where deliveries have
// history_at (migration 00013), the seed writes it as the planner does
// (the parts between /*H*/ markers); on an older schema they are dropped,
// so the same file measures the code before the change.
const historySeedSQL = `
INSERT INTO contacts (email, tier, timezone, created_at, updated_at)
SELECT 'c' || g || '@example.com', (ARRAY['low','medium','high'])[1 + g % 3],
       (ARRAY['UTC','Europe/Berlin','America/New_York','Asia/Kolkata'])[1 + g % 4], now(), now()
FROM generate_series(1, $1::int) g;
INSERT INTO campaigns (name, topic, category, priority, content, created_at, updated_at)
VALUES ('history 1', 'offers', 'marketing', 50, '{}', now(), now()), ('history 2', 'offers', 'marketing', 50, '{}', now(), now()),
       ('old history', 'offers', 'marketing', 50, '{}', now(), now());
INSERT INTO campaign_runs (campaign_id, fire_at, status, created_at, updated_at)
SELECT 3, now() - interval '365 days' + (k - 1) * interval '330 days' / greatest($1::int, 1), 'planned', now(), now()
FROM generate_series(1, $1::int) k;
INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, planned_for, sent_at, created_at, updated_at/*H*/, history_at/*H*/)
SELECT r.id, 3, c.id, true, 50, c.tier, 'sent', 'sent', r.fire_at + (c.id % 24) * interval '1 hour',
       r.fire_at + (c.id % 24) * interval '1 hour', r.fire_at, r.fire_at/*H*/, r.fire_at + (c.id % 24) * interval '1 hour'/*H*/
FROM campaign_runs r CROSS JOIN contacts c WHERE r.campaign_id = 3 ORDER BY r.id, c.id;
INSERT INTO campaign_runs (campaign_id, fire_at, status, created_at, updated_at)
VALUES (1, now() - interval '30 days', 'planned', now(), now()), (2, now() - interval '5 days', 'planned', now(), now());
INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, planned_for, sent_at, created_at, updated_at/*H*/, history_at/*H*/)
SELECT (SELECT id FROM campaign_runs WHERE campaign_id = 1), 1, id, true, 50, tier, 'sent', 'sent', now() - (1 + id % 28) * interval '1 day',
       now() - (1 + id % 28) * interval '1 day', now(), now()/*H*/, now() - (1 + id % 28) * interval '1 day'/*H*/ FROM contacts;
INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, planned_for, sent_at, created_at, updated_at/*H*/, history_at/*H*/)
SELECT (SELECT id FROM campaign_runs WHERE campaign_id = 2), 2, id, true, 40, tier,
       CASE WHEN id % 2 = 0 THEN 'scheduled' ELSE 'sent' END,
       CASE WHEN id % 2 = 0 THEN 'scheduled' ELSE 'sent' END,
       CASE WHEN id % 2 = 0 THEN now() + (1 + id % 10) * interval '1 day' ELSE now() - interval '3 days' END,
       CASE WHEN id % 2 = 0 THEN NULL ELSE now() - interval '3 days' END, now(), now()
       /*H*/, CASE WHEN id % 2 = 0 THEN now() + (1 + id % 10) * interval '1 day' ELSE now() - interval '3 days' END/*H*/ FROM contacts;
VACUUM ANALYZE`

// historyDB is one seeded database of the comparison.
type historyDB struct {
	name    string
	pool    *pgxpool.Pool
	store   *postgres.Store
	svc     *campaign.Service
	river   *river.Client[pgx.Tx]
	n, rows int
}

func seedHistory(b *testing.B, name string, n, old int) *historyDB {
	b.Helper()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.URL(b), 20)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	store := postgres.NewStore(pool, outreach.SystemClock{})
	if err := store.Seed(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var hasHistoryAt bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_name = 'deliveries' AND column_name = 'history_at')`).Scan(&hasHistoryAt); err != nil {
		b.Fatal(err)
	}
	seed := regexp.MustCompile(`(?s)/\*H\*/(.*?)/\*H\*/`).ReplaceAllStringFunc(historySeedSQL, func(m string) string {
		if hasHistoryAt {
			return strings.TrimSuffix(strings.TrimPrefix(m, "/*H*/"), "/*H*/")
		}
		return ""
	})
	stmts := strings.Split(seed, ";\n")
	for i, stmt := range stmts {
		var args []any
		switch i {
		case 0:
			args = []any{n}
		case 2, 3:
			if old == 0 {
				continue
			}
			if i == 2 {
				args = []any{old}
			}
		}
		if _, err := pool.Exec(ctx, stmt, args...); err != nil {
			b.Fatalf("seed statement %d: %v", i, err)
		}
	}
	d := &historyDB{name: name, pool: pool, store: store, n: n}
	_ = pool.QueryRow(ctx, "SELECT count(*) FROM deliveries").Scan(&d.rows)
	var size string
	_ = pool.QueryRow(ctx, "SELECT pg_size_pretty(pg_total_relation_size('deliveries'))").Scan(&size)
	fmt.Printf("# %s: %d contacts, %d deliveries (%s with indexes), seeded in %.0f s\n", name, n, d.rows, size, time.Since(start).Seconds())

	signer, _ := token.New([]string{"bench-secret-0123456789abcdefghijklmnopqrstuv"})
	renderer, _ := render.New(render.Company{Name: "Bench", Address: "1 Bench Way"})
	outbox, _ := mailer.NewOutbox(b.TempDir(), nil)
	pub, _ := url.Parse("https://mail.example.test")
	svc, ws := benchWorkers(b, pool, store, outreach.SystemClock{}, renderer, signer, pub, outbox, 100, nil, 0, 0)
	workers := river.NewWorkers()
	jobs.Register(workers, ws)
	rc, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler), Workers: workers,
		Queues: map[string]river.QueueConfig{jobs.QueuePlan: {MaxWorkers: 2}}, FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	if err := rc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rc.Stop(context.Background()) })
	d.svc, d.river = svc, rc
	return d
}

// plan plans a new campaign over every contact, through River's planning
// jobs as `send` does, and returns the time until the run is planned.
func (d *historyDB) plan(b *testing.B, round int) time.Duration {
	ctx := context.Background()
	camp, err := d.store.CreateCampaign(ctx, "bench", outreach.Campaign{Name: fmt.Sprintf("History %d", round), Topic: "offers",
		Category: outreach.Marketing, Priority: 60, ExpiresAfter: 14 * 24 * time.Hour,
		Content: outreach.Content{Subject: "Hi", Text: "Hello", HTML: "<p>Hello</p>"}})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	_, runID, _, err := d.svc.Send(ctx, "bench", camp.ID, nil)
	if err != nil {
		b.Fatal(err)
	}
	for {
		var status string
		if err := d.pool.QueryRow(ctx, "SELECT status FROM campaign_runs WHERE id = $1", runID).Scan(&status); err != nil {
			b.Fatal(err)
		}
		if status == "planned" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	var planned int
	_ = d.pool.QueryRow(ctx, "SELECT count(*) FROM deliveries WHERE run_id = $1", runID).Scan(&planned)
	if planned != d.n {
		b.Fatalf("%s: planned %d deliveries, want %d", d.name, planned, d.n)
	}
	return elapsed
}

// check runs the send-time check's reads for every contact, in send
// batches of 200: the contacts locked in id order and their suppressions
// and sent history read (postgres.Tx.SendState, as jobs.SendWorker.check
// calls it), one transaction per batch. It returns the time and a digest
// of what was read, to compare the two databases' answers.
func (d *historyDB) check(b *testing.B) (time.Duration, int) {
	ctx := context.Background()
	tiers, err := d.store.Tiers(ctx)
	if err != nil {
		b.Fatal(err)
	}
	p := planner.New(tiers, time.UTC, 0)
	var ids []int64
	rows, err := d.pool.Query(ctx, "SELECT id FROM contacts ORDER BY id")
	if err != nil {
		b.Fatal(err)
	}
	ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		b.Fatal(err)
	}
	events := 0
	start := time.Now()
	for batch := range slices.Chunk(ids, 200) {
		err := d.store.InTx(ctx, func(tx *postgres.Tx) error {
			// Generic plans, as the send batch's transactions run.
			if err := tx.GenericPlans(ctx); err != nil {
				return err
			}
			locked, err := tx.LockContacts(ctx, batch)
			if err != nil {
				return err
			}
			st, err := tx.SendState(ctx, locked, time.Now().Add(-p.Window()))
			for _, s := range st.Sent {
				events += len(s)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start), events
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkHistoryLength plans the same campaign for the same contacts
// twice over: once with 100 prior deliveries each spread over a year (98
// of them older than any cap window), once with only the 2 recent ones,
// and runs the send-time check's reads for both; it prints both times and
// their ratio (rounds alternate which database goes first; medians).
// HISTORY_CONTACTS (default 100,000), HISTORY_OLD (98) and HISTORY_ROUNDS
// (4: each database first twice) change its size.
func BenchmarkHistoryLength(b *testing.B) {
	n := envInt("HISTORY_CONTACTS", 100_000)
	old := envInt("HISTORY_OLD", 98)
	rounds := envInt("HISTORY_ROUNDS", 4)
	short := seedHistory(b, "short", n, 0)
	long := seedHistory(b, "long", n, old)
	// Both start clean: the seed's dirty pages written out now rather than
	// during whichever database is timed first.
	if _, err := long.pool.Exec(context.Background(), "CHECKPOINT"); err != nil {
		fmt.Printf("# no checkpoint after seeding: %v\n", err)
	}
	b.ResetTimer()
	var planShort, planLong, checkShort, checkLong []time.Duration
	for r := range rounds {
		order := []*historyDB{short, long}
		if r%2 == 1 {
			order = []*historyDB{long, short}
		}
		for _, d := range order {
			pt := d.plan(b, r)
			ct, ev := d.check(b)
			fmt.Printf("# round %d %s: plan %.2f s, check %.2f s (%d history events read)\n", r+1, d.name, pt.Seconds(), ct.Seconds(), ev)
			if d == short {
				planShort, checkShort = append(planShort, pt), append(checkShort, ct)
			} else {
				planLong, checkLong = append(planLong, pt), append(checkLong, ct)
			}
		}
	}
	b.StopTimer()
	ps, pl, cs, cl := median(planShort), median(planLong), median(checkShort), median(checkLong)
	fmt.Printf("history_rows: %d short, %d long\n", short.rows, long.rows)
	fmt.Printf("history_plan_short_seconds: %.2f s\n", ps.Seconds())
	fmt.Printf("history_plan_long_seconds: %.2f s\n", pl.Seconds())
	fmt.Printf("history_plan_ratio: %.2f (long/short, target <= 1.3)\n", pl.Seconds()/ps.Seconds())
	fmt.Printf("history_check_short_seconds: %.2f s\n", cs.Seconds())
	fmt.Printf("history_check_long_seconds: %.2f s\n", cl.Seconds())
	fmt.Printf("history_check_ratio: %.2f (long/short, target <= 1.3)\n", cl.Seconds()/cs.Seconds())
	b.ReportMetric(pl.Seconds()/ps.Seconds(), "plan-ratio")
	b.ReportMetric(cl.Seconds()/cs.Seconds(), "check-ratio")
}
