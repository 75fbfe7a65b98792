package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// consoleSeedSQL fills a database the size the console must stay fast
// with ($1 contacts, 1,000,000 by default), set-based, in a minute or so:
//   - contacts over the three default tiers and four zones; every other
//     one with an external id, one in ten choosing the low tier; 2%
//     unsubscribed, 1% bounced, 0.5% complained, each with the matching
//     suppression; low and medium contacts written to up to 120 days ago
//     (one in five never): many overdue; high ones in the last 10 days
//     but one in a thousand: overdue contacts are rare there;
//   - 100 campaigns (80 completed, 10 running, 5 scheduled, 5 drafts),
//     95 with a run, each run with a delivery for one contact in 50
//     (about 1,900,000 deliveries): the completed ones sent or expired,
//     the others scheduled or deferred by a cap or the send window;
//   - contact 1 in every campaign and with 60 preference changes (a long
//     timeline), one contact in ten with a preference change;
//   - 100,000 audit entries by 20 actors.
const consoleSeedSQL = `
WITH c AS (
INSERT INTO contacts (email, external_id, name, tier, preferred_tier, timezone, status, created_at, updated_at)
SELECT 'c' || g || '@example.com', CASE WHEN g % 2 = 0 THEN 'crm-' || g END, 'Contact ' || g,
       (ARRAY['low','medium','high'])[1 + g % 3], CASE WHEN g % 10 = 0 THEN 'low' END,
       (ARRAY['UTC','Europe/Berlin','America/New_York','Asia/Kolkata'])[1 + g % 4],
       CASE WHEN g % 200 = 7 THEN 'complained' WHEN g % 100 = 3 THEN 'bounced' WHEN g % 50 = 1 THEN 'unsubscribed' ELSE 'active' END,
       now() - interval '1 day' - (g % 730) * interval '1 day', now()
FROM generate_series(1, $1::int) g RETURNING id)
INSERT INTO contact_last_sent (contact_id, last_sent_at)
SELECT id, CASE WHEN id % 3 = 2 THEN now() - (CASE WHEN id % 1000 = 2 THEN 30 ELSE id % 10 END) * interval '1 day'
                ELSE now() - (id % 120) * interval '1 day' END
FROM c WHERE id % 3 = 2 OR id % 5 <> 0;
INSERT INTO suppressions (email_hash, email, reason, created_at)
SELECT sha256(convert_to(email, 'UTF8')), email,
       CASE status WHEN 'complained' THEN 'complaint' WHEN 'bounced' THEN 'hard_bounce' ELSE 'unsubscribe' END, now() - (id % 300) * interval '1 hour'
FROM contacts WHERE status <> 'active' ORDER BY id;
INSERT INTO campaigns (name, topic, category, priority, content, status, created_at, updated_at)
SELECT 'Campaign ' || k, 'offers', 'marketing', 10 + k % 80, '{"subject":"Hi {{.Contact.Name}}","text":"Hello","html":"<p>Hello</p>"}',
       CASE WHEN k <= 80 THEN 'completed' WHEN k <= 90 THEN 'running' WHEN k <= 95 THEN 'scheduled' ELSE 'draft' END,
       now() - (101 - k) * interval '1 day', now()
FROM generate_series(1, 100) k;
INSERT INTO campaign_runs (campaign_id, fire_at, status, created_at, updated_at)
SELECT id, now() - (101 - id) * interval '1 day', CASE WHEN id <= 80 THEN 'completed' ELSE 'planned' END, now(), now()
FROM campaigns WHERE id <= 95 ORDER BY id;
INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, rule, planned_for, sent_at, created_at, updated_at)
SELECT r.id, r.campaign_id, c.id, true, 50, c.tier,
       CASE WHEN r.campaign_id <= 80 THEN (CASE WHEN c.id % 7 = 0 THEN 'skipped' ELSE 'sent' END) ELSE 'scheduled' END,
       CASE WHEN r.campaign_id <= 80 THEN (CASE WHEN c.id % 7 = 0 THEN 'expired' ELSE 'sent' END)
            WHEN c.id % 3 = 0 THEN 'deferred_cap' WHEN c.id % 3 = 1 THEN 'deferred_send_window' ELSE 'scheduled' END,
       CASE WHEN r.campaign_id > 80 AND c.id % 3 = 0 THEN 'cap 1/7d'
            WHEN r.campaign_id > 80 AND c.id % 3 = 1 THEN 'send_window mon,tue,wed,thu,fri,sat,sun 08:00-20:00 UTC' ELSE '' END,
       r.fire_at + (c.id % 10) * interval '1 day',
       CASE WHEN r.campaign_id <= 80 AND c.id % 7 <> 0 THEN r.fire_at + interval '1 hour' END,
       r.fire_at, now()
FROM campaign_runs r JOIN contacts c ON c.id % 50 = r.campaign_id % 50;
INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason, rule, planned_for, sent_at, created_at, updated_at)
SELECT r.id, r.campaign_id, 1, true, 50, 'medium', CASE WHEN r.campaign_id <= 80 THEN 'sent' ELSE 'scheduled' END,
       CASE WHEN r.campaign_id <= 80 THEN 'sent' ELSE 'deferred_cap' END, CASE WHEN r.campaign_id <= 80 THEN '' ELSE 'cap 1/7d' END,
       r.fire_at + interval '2 days', CASE WHEN r.campaign_id <= 80 THEN r.fire_at + interval '1 hour' END, r.fire_at, now()
FROM campaign_runs r WHERE r.campaign_id % 50 <> 1;
INSERT INTO contact_events (contact_id, kind, detail, actor, created_at)
SELECT CASE WHEN g <= 60 THEN 1 ELSE g * 10 END, 'preferences_changed',
       '{"before":{"preferred_tier":""},"after":{"preferred_tier":"low"}}', 'customer', now() - g * interval '1 minute'
FROM generate_series(1, $1::int / 10) g;
INSERT INTO audit_log (actor, action, entity, entity_id, before, after, created_at)
SELECT 'user:bench-' || (g % 20) || '@example.com', (ARRAY['create','update','suppress','import'])[1 + g % 4],
       (ARRAY['campaign','contact','suppression','contact'])[1 + g % 4], (g % 5000)::text, NULL, '{"n":1}',
       now() - (100000 - g) * interval '1 second'
FROM generate_series(1, 100000) g;
VACUUM ANALYZE`

// seedConsole runs consoleSeedSQL for n contacts.
func seedConsole(b *testing.B, pool *pgxpool.Pool, n int) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	for stmt := range strings.SplitSeq(consoleSeedSQL, ";\n") {
		var args []any
		if strings.Contains(stmt, "$1") {
			args = append(args, n)
		}
		if _, err := pool.Exec(ctx, stmt, args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, stmt)
		}
	}
	var deliveries int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM deliveries").Scan(&deliveries); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("# seeded %d contacts, 100 campaigns, %d deliveries, 100000 audit entries\n", n, deliveries)
	fmt.Printf("console_seed_seconds: %.1f s\n", time.Since(start).Seconds())
}
