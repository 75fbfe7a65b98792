package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/tuning"
)

// history writes a made-up past straight into the tables, in one
// transaction (so the server's own rollup job never sees half of it):
// contacts back-dated, campaigns, runs, deliveries and timeline events
// with known times.
type history struct {
	t     *testing.T
	a     *testApp
	stmts []string
}

func newHistory(t *testing.T, a *testApp) *history { return &history{t: t, a: a} }

func ts(t time.Time) string { return "'" + t.UTC().Format(time.RFC3339Nano) + "'::timestamptz" }

func sqlStr(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// contact adds a contact created at created and returns its email (its id
// is looked up with (*history).id after commit).
func (h *history) contact(email, tier, preferred, status string, created time.Time, lastSent *time.Time) {
	pref := "NULL"
	if preferred != "" {
		pref = sqlStr(preferred)
	}
	h.stmts = append(h.stmts, fmt.Sprintf(`INSERT INTO contacts (email, tier, preferred_tier, timezone, status, created_at, updated_at)
		VALUES (%s, %s, %s, 'UTC', %s, %s, %s)`, sqlStr(email), sqlStr(tier), pref, sqlStr(status), ts(created), ts(created)))
	if lastSent != nil {
		h.stmts = append(h.stmts, fmt.Sprintf(`INSERT INTO contact_last_sent (contact_id, last_sent_at)
			SELECT id, %s FROM contacts WHERE email = %s`, ts(*lastSent), sqlStr(email)))
	}
}

// campaign adds a marketing campaign named name.
func (h *history) campaign(name string, priority int) {
	h.stmts = append(h.stmts, fmt.Sprintf(`INSERT INTO campaigns (name, topic, category, priority, content, status, created_at, updated_at)
		VALUES (%s, 'offers', 'marketing', %d, '{"subject":"s","text":"t","html":"h"}', 'completed', now(), now())`, sqlStr(name), priority))
}

// run adds a run of the named campaign fired at fire, expiring at exp.
func (h *history) run(campaign string, fire, exp time.Time) {
	h.stmts = append(h.stmts, fmt.Sprintf(`INSERT INTO campaign_runs (campaign_id, fire_at, expires_at, status, created_at, updated_at)
		SELECT id, %s, %s, 'completed', %s, %s FROM campaigns WHERE name = %s`, ts(fire), ts(exp), ts(fire), ts(fire), sqlStr(campaign)))
}

// delivery adds the named campaign's delivery (its run fired at fire) to
// a contact, planned at the firing for planned, in a state with a reason;
// sent is its sent time for sent ones.
func (h *history) delivery(campaign string, fire time.Time, email, tier, state, reason string, planned time.Time, sent *time.Time) {
	s := "NULL"
	if sent != nil {
		s = ts(*sent)
	}
	h.stmts = append(h.stmts, fmt.Sprintf(`INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason,
		planned_for, expires_at, sent_at, created_at, updated_at)
		SELECT r.id, r.campaign_id, c.id, true, 50, %s, %s, %s, %s, r.expires_at, %s, %s, %s
		FROM campaign_runs r JOIN campaigns k ON k.id = r.campaign_id, contacts c
		WHERE k.name = %s AND r.fire_at = %s AND c.email = %s`,
		sqlStr(tier), sqlStr(state), sqlStr(reason), ts(planned), s, ts(fire), ts(fire), sqlStr(campaign), ts(fire), sqlStr(email)))
}

// event adds a timeline event to a contact.
func (h *history) event(email, kind, detail string, at time.Time) {
	h.stmts = append(h.stmts, fmt.Sprintf(`INSERT INTO contact_events (contact_id, kind, detail, actor, created_at)
		SELECT id, %s, %s::jsonb, 'customer', %s FROM contacts WHERE email = %s`, sqlStr(kind), sqlStr(detail), ts(at), sqlStr(email)))
}

// commit writes everything in one transaction.
func (h *history) commit() {
	h.t.Helper()
	ctx := context.Background()
	tx, err := h.a.DB.Begin(ctx)
	require.NoError(h.t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	for _, s := range h.stmts {
		tag, err := tx.Exec(ctx, s)
		require.NoError(h.t, err, s)
		require.Equal(h.t, int64(1), tag.RowsAffected(), s)
	}
	require.NoError(h.t, tx.Commit(ctx))
	h.stmts = nil
}

// id is a contact's id by email.
func (a *testApp) id(email string) int64 {
	a.t.Helper()
	var id int64
	require.NoError(a.t, a.DB.QueryRow(context.Background(), "SELECT id FROM contacts WHERE email = $1", email).Scan(&id))
	return id
}

// fixedClock is a clock that says what the test says.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// rollup runs the insight rollup's logic (what the insight_rollup job
// runs) against the app's database at now.
func (a *testApp) rollup(now time.Time) postgres.RollupReport {
	a.t.Helper()
	store := postgres.NewStore(a.DB, fixedClock{now})
	rep, err := tuning.New(store, nil, tuning.Config{Clock: fixedClock{now}}).Rollup(context.Background())
	require.NoError(a.t, err)
	return rep
}

// utcDay is t's UTC midnight.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
