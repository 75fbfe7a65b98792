package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// unboundedHistory is every marketing delivery of the contacts counting
// against caps, however old: no bound on time at all.
func unboundedHistory(t *testing.T, pool *pgxpool.Pool, ids []int64) map[int64][]dbHist {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT id, contact_id, coalesce(sent_at, planned_for), priority, state, expires_at, campaign_id FROM deliveries
		WHERE contact_id = ANY($1) AND marketing AND state IN ('scheduled', 'sending', 'sent', 'unknown')
		ORDER BY contact_id, 3`, ids)
	require.NoError(t, err)
	out := map[int64][]dbHist{}
	for rows.Next() {
		var h dbHist
		require.NoError(t, rows.Scan(&h.id, &h.contact, &h.at, &h.priority, &h.state, &h.expires, &h.campaign))
		out[h.contact] = append(out[h.contact], h)
	}
	require.NoError(t, rows.Err())
	return out
}

type dbHist struct {
	id, contact, campaign int64
	at                    time.Time
	priority              int
	state                 string
	expires               *time.Time
}

// seedRandomHistory writes n contacts over the default tiers with random
// deliveries across 400 days before and 40 after now, in every state,
// then moves some of them as sending and re-planning would (late sends,
// deferrals, earlier re-plans), all through plain SQL so that the
// trigger, not the store, keeps history_at on those updates.
func seedRandomHistory(t *testing.T, s *postgres.Store, pool *pgxpool.Pool, now time.Time, n int, rng *rand.Rand) []int64 {
	t.Helper()
	ctx := context.Background()
	tiers := []string{"low", "medium", "high"}
	states := []string{"scheduled", "sending", "sent", "sent", "sent", "skipped", "failed", "unknown"}
	var ids []int64
	run := int64(1)
	for i := range n {
		c, _, err := s.UpsertContact(ctx, "test", outreach.Contact{Email: fmt.Sprintf("h%d@example.com", i), Name: "H",
			Tier: tiers[i%3], Timezone: []string{"UTC", "Europe/Berlin", "Asia/Tokyo"}[i%3]})
		require.NoError(t, err)
		ids = append(ids, c.ID)
		for range rng.IntN(40) {
			planned := now.Add(time.Duration(rng.Int64N(int64(440*24*time.Hour))) - 400*24*time.Hour).Truncate(time.Second)
			state := states[rng.IntN(len(states))]
			var sent *time.Time
			if state == "sent" || (state == "unknown" && rng.IntN(2) == 0) {
				at := planned.Add(time.Duration(rng.Int64N(int64(time.Hour))))
				sent = &at
			}
			var expires *time.Time
			if rng.IntN(2) == 0 {
				e := planned.Add(3 * 24 * time.Hour)
				expires = &e
			}
			// history_at as the planner writes it, at the moment the row
			// counts; or, one time in seven, left to the column's default
			// ('infinity': always read).
			_, err := pool.Exec(ctx, `INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason,
				planned_for, sent_at, expires_at, created_at, updated_at, history_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $8, $8, CASE WHEN $11 THEN coalesce($9::timestamptz, $8::timestamptz) ELSE 'infinity'::timestamptz END)`,
				run, 1+run%5, c.ID, rng.IntN(8) > 0, 10+10*rng.IntN(8), c.Tier, state, planned, sent, expires, rng.IntN(7) > 0)
			require.NoError(t, err)
			run++
		}
	}
	// Life after planning: sends up to five days late (throttled), re-plans
	// by up to 20 days either way, retries put back to scheduled.
	_, err := pool.Exec(ctx, `UPDATE deliveries SET sent_at = planned_for + (random() * interval '5 days')
		WHERE state = 'sent' AND random() < 0.3`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE deliveries SET planned_for = planned_for + ((random() * 40 - 20) * interval '1 day')
		WHERE state = 'scheduled' AND random() < 0.5`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE deliveries SET state = 'scheduled', sent_at = NULL, planned_for = planned_for + interval '2 days'
		WHERE state = 'sending' AND random() < 0.5`)
	require.NoError(t, err)
	return ids
}

// TestBoundedHistoryDecidesAsUnbounded: with deliveries of every age and
// state present, moved about as sending and re-planning move them, the
// history_at invariant holds, and the bounded reads (the planner's
// CapHistory, the send check's SendState, re-planning's
// ContactCapHistory) give exactly the events of an unbounded read within
// the window, and the same planning decisions as the read before
// history_at (every counting delivery after since, found by contact_id
// alone).
func TestBoundedHistoryDecidesAsUnbounded(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(16, 3))
	ids := seedRandomHistory(t, s, pool, now, 90, rng)

	var broken int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM deliveries
		WHERE coalesce(sent_at, planned_for) > history_at + interval '1 day'`).Scan(&broken))
	require.Zero(t, broken, "coalesce(sent_at, planned_for) <= history_at + 1 day")

	tiers, err := s.Tiers(ctx)
	require.NoError(t, err)
	p := planner.New(tiers, time.UTC, 0)
	all := unboundedHistory(t, pool, ids)
	camp := outreach.Campaign{ID: 99, Name: "History", Topic: "offers", Category: outreach.Marketing, Priority: 50}
	decisions := 0
	for _, at := range []time.Time{now, now.Add(-20 * 24 * time.Hour), now.Add(-200 * 24 * time.Hour), now.Add(9 * 24 * time.Hour)} {
		since := at.Add(-p.Window())
		var targets []planner.Target
		var sent postgres.SendState
		require.NoError(t, s.InTx(ctx, func(tx *postgres.Tx) error {
			targets, err = tx.AudienceTargets(ctx, postgres.AudienceBatch{Audience: outreach.Audience{ContactIDs: ids}, Limit: len(ids), Since: since})
			if err != nil {
				return err
			}
			contacts := make([]outreach.Contact, len(targets))
			for i, tg := range targets {
				contacts[i] = tg.Contact
			}
			sent, err = tx.SendState(ctx, contacts, since)
			return err
		}))
		require.Len(t, targets, len(ids))
		for _, tg := range targets {
			id := tg.Contact.ID
			// The same events as an unbounded read cut at since.
			var want, wantSent []time.Time
			whole := planner.Target{Contact: tg.Contact, Suppression: tg.Suppression}
			for _, h := range all[id] {
				reserved := h.state == "scheduled"
				if !h.at.After(since) {
					continue // the read before history_at cut here too
				}
				whole.History = append(whole.History, cadence.Event{ID: h.id, At: h.at, Priority: h.priority, Reserved: reserved})
				if reserved {
					if whole.LowerExpiry == nil {
						whole.LowerExpiry, whole.ReservedBy = map[int64]time.Time{}, map[int64]int64{}
					}
					var exp time.Time
					if h.expires != nil {
						exp = *h.expires
					}
					whole.LowerExpiry[h.id], whole.ReservedBy[h.id] = exp, h.campaign
				}
				if h.at.After(since) {
					want = append(want, h.at)
					if !reserved {
						wantSent = append(wantSent, h.at)
					}
				}
			}
			var got, gotSent []time.Time
			for _, e := range tg.History {
				got = append(got, e.At)
			}
			for _, e := range sent.Sent[id] {
				gotSent = append(gotSent, e.At)
			}
			slices.SortFunc(wantSent, time.Time.Compare)
			slices.SortFunc(gotSent, time.Time.Compare)
			require.Equal(t, want, got, "cap history of contact %d at %s", id, at)
			require.Equal(t, wantSent, gotSent, "sent history of contact %d at %s", id, at)

			var cc []cadence.Event
			require.NoError(t, s.InTx(ctx, func(tx *postgres.Tx) error {
				cc, err = tx.ContactCapHistory(ctx, id, 0, since)
				return err
			}))
			require.Len(t, cc, len(want), "re-planning history of contact %d at %s", id, at)

			// And the same decision as from the unbounded read.
			run := planner.Run{Campaign: camp, ID: 1000, FireAt: at}
			a := p.Plan(run, tg, at, rand.New(rand.NewPCG(uint64(id), 1)))
			b := p.Plan(run, whole, at, rand.New(rand.NewPCG(uint64(id), 1)))
			require.Equal(t, b, a, "decision for contact %d at %s", id, at)
			decisions++
		}
	}
	require.Equal(t, 4*len(ids), decisions)
}

// TestPruneDeliveries: final deliveries older than the retention go, in
// batches, once the insight rollup has closed their days; recent ones and
// scheduled or sending ones of any age stay; a send job holding its
// contacts' and deliveries' locks neither blocks it nor is blocked.
func TestPruneDeliveries(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t) // now: 2026-12-01 10:00 UTC
	ctx := context.Background()
	day := 24 * time.Hour
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := contact(t, s, "prune@example.com")
	type row struct {
		state string
		age   time.Duration // before now, of planned_for and sent_at
		stays bool
	}
	rows := []row{
		{"sent", 500 * day, false}, {"skipped", 450 * day, false}, {"failed", 420 * day, false}, {"unknown", 402 * day, false},
		{"scheduled", 500 * day, true}, {"sending", 450 * day, true}, // not final: stay whatever their age
		{"sent", 399 * day, true}, {"sent", 30 * day, true}, {"skipped", day, true}, {"sent", 0, true},
	}
	var ids []int64
	for i, r := range rows {
		at := now.Add(-r.age)
		var sent *time.Time
		if r.state == "sent" {
			sent = &at
		}
		var id int64
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason,
			planned_for, sent_at, created_at, updated_at, history_at) VALUES ($1, 1, $2, true, 50, 'medium', $3, $3, $4, $5, $4, $4, $4) RETURNING id`,
			i+1, c.ID, r.state, at, sent).Scan(&id))
		ids = append(ids, id)
	}
	remaining := func() []int64 {
		rs, err := pool.Query(ctx, "SELECT id FROM deliveries ORDER BY id")
		require.NoError(t, err)
		out, err := pgx.CollectRows(rs, pgx.RowTo[int64])
		require.NoError(t, err)
		return out
	}

	// The rollup has closed no day: nothing goes.
	rep, err := s.PruneDeliveries(ctx, 400*day, 3, 100)
	require.NoError(t, err)
	require.Zero(t, rep.Deleted)
	require.Len(t, remaining(), len(rows))

	// It has closed the days up to 450 days ago: only what it covered goes.
	_, err = pool.Exec(ctx, "UPDATE insight_state SET days_through = $1::date", now.Add(-450*day).Format(time.DateOnly))
	require.NoError(t, err)
	rep, err = s.PruneDeliveries(ctx, 400*day, 3, 100)
	require.NoError(t, err)
	require.Equal(t, int64(1), rep.Deleted, "the sent one of 500 days ago")
	require.True(t, rep.Done)

	// A send job holds its contact and a sending delivery meanwhile.
	_, err = pool.Exec(ctx, "UPDATE insight_state SET days_through = $1::date", now.Add(-day).Format(time.DateOnly))
	require.NoError(t, err)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SELECT * FROM contacts WHERE id = $1 FOR UPDATE", c.ID)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SELECT * FROM deliveries WHERE state IN ('scheduled', 'sending') FOR UPDATE")
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rep, err = s.PruneDeliveries(short, 400*day, 3, 100)
	require.NoError(t, err, "pruning waits for no send job")
	require.Equal(t, int64(3), rep.Deleted)
	require.True(t, rep.Done)
	require.GreaterOrEqual(t, rep.Batches, 2, "in batches of 3")
	_, err = tx.Exec(ctx, "UPDATE deliveries SET state = 'sent', sent_at = $1 WHERE state = 'sending'", now)
	require.NoError(t, err, "the send job records its outcome")
	require.NoError(t, tx.Commit(ctx))

	var want []int64
	for i, r := range rows {
		if r.stays {
			want = append(want, ids[i])
		}
	}
	require.Equal(t, want, remaining())

	// Running again finds nothing more.
	rep, err = s.PruneDeliveries(ctx, 400*day, 3, 100)
	require.NoError(t, err)
	require.Zero(t, rep.Deleted)
}

// TestTierRuleWithinRetention: with a retention set, a tier whose rule
// reads further back is refused, naming the field.
func TestTierRuleWithinRetention(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	s.SetRetention(60 * 24 * time.Hour)
	tier, err := s.Tier(ctx, "medium")
	require.NoError(t, err)
	tier.Rule.TargetInterval = 90 * 24 * time.Hour
	_, err = s.UpdateTier(ctx, "test", tier)
	require.Equal(t, outreach.EINVALID, outreach.ErrorCode(err))
	require.ErrorContains(t, err, "target_interval: must not be longer than the deliveries' retention (DELIVERY_RETENTION, 60d)")
	tier.Rule.TargetInterval = 60 * 24 * time.Hour
	_, err = s.UpdateTier(ctx, "test", tier)
	require.NoError(t, err)
}
