package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/postgres"
)

// insertDeliveries writes n scheduled deliveries of one run, for contact
// ids from first on, in plain SQL.
func insertDeliveries(t *testing.T, pool *pgxpool.Pool, run, first int64, n int) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier, state, reason,
		                        planned_for, created_at, updated_at, history_at)
		SELECT $1, 1, $2 + g, true, 50, 'medium', 'scheduled', 'planned', now(), now(), now(), now()
		FROM generate_series(0, $3 - 1) g`, run, first, n)
	require.NoError(t, err)
}

// refreshes asserts that RefreshDeliveryStats runs ANALYZE once n rows
// written since the last one are counted.
func refreshes(t *testing.T, s *postgres.Store, pool *pgxpool.Pool, n int64) {
	t.Helper()
	waitCounted(t, pool, n)
	ran, err := s.RefreshDeliveryStats(context.Background())
	require.NoError(t, err)
	require.True(t, ran, "no ANALYZE with %d rows written", n)
}

// waitCounted waits until PostgreSQL's statistics count at least n rows
// written to deliveries since its last ANALYZE (they come up to a second
// after the commit), so that a refresh not running is its own decision.
func waitCounted(t *testing.T, pool *pgxpool.Pool, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var mod int64
		require.NoError(t, pool.QueryRow(context.Background(),
			`SELECT coalesce(n_mod_since_analyze, 0) FROM pg_stat_user_tables WHERE relid = 'deliveries'::regclass`).Scan(&mod))
		if mod >= n {
			return
		}
		require.True(t, time.Now().Before(deadline), "%d rows counted, waiting for %d", mod, n)
		time.Sleep(50 * time.Millisecond)
	}
}

func analyzedTuples(t *testing.T, pool *pgxpool.Pool) float64 {
	t.Helper()
	var n float64
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT reltuples FROM pg_class WHERE oid = 'deliveries'::regclass`).Scan(&n))
	return n
}

// TestRefreshDeliveryStats: a plan that doubles deliveries gets them
// analyzed at once, so PostgreSQL's planner knows them; one that adds
// little to what was analyzed, or fewer rows than analyzeMinRows, does
// not pay for an ANALYZE.
func TestRefreshDeliveryStats(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()

	insertDeliveries(t, pool, 1, 1, 500)
	waitCounted(t, pool, 500)
	ran, err := s.RefreshDeliveryStats(ctx)
	require.NoError(t, err)
	require.False(t, ran, "500 rows: below the minimum")

	insertDeliveries(t, pool, 2, 1, 5000)
	refreshes(t, s, pool, 5500)
	require.InDelta(t, 5500, analyzedTuples(t, pool), 1, "ANALYZE counted every row")

	// Two fifths more, above the minimum: autovacuum's business, not the
	// planner's.
	insertDeliveries(t, pool, 3, 1, 2200)
	waitCounted(t, pool, 2200)
	ran, err = s.RefreshDeliveryStats(ctx)
	require.NoError(t, err)
	require.False(t, ran, "grown by two fifths")

	// Doubled again: analyzed again.
	insertDeliveries(t, pool, 4, 1, 6000)
	refreshes(t, s, pool, 8200)
	require.InDelta(t, 13700, analyzedTuples(t, pool), 1)
}

// TestGenericPlansLastTheTransaction: the setting holds for the rest of
// the transaction and is gone after it.
func TestGenericPlansLastTheTransaction(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	mode := func(q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}) string {
		var m string
		require.NoError(t, q.QueryRow(ctx, "SELECT current_setting('plan_cache_mode')").Scan(&m))
		return m
	}
	require.NoError(t, s.InTx(ctx, func(tx *postgres.Tx) error {
		require.Equal(t, "auto", mode(tx.RiverTx()))
		require.NoError(t, tx.GenericPlans(ctx))
		require.Equal(t, "force_generic_plan", mode(tx.RiverTx()))
		return nil
	}))
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	require.Equal(t, "auto", mode(conn))
}

// TestRefreshDeliveryStatsDoesNotWait: while something else holds the lock
// ANALYZE needs (autovacuum, say), planning skips its refresh at once
// instead of waiting.
func TestRefreshDeliveryStatsDoesNotWait(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	insertDeliveries(t, pool, 1, 1, 5000)
	waitCounted(t, pool, 5000)
	holder, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = holder.Rollback(ctx) }()
	_, err = holder.Exec(ctx, "LOCK TABLE deliveries IN SHARE UPDATE EXCLUSIVE MODE")
	require.NoError(t, err)
	// Waiting for the lock would end in this deadline's error: the holder
	// lets go only after the call.
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ran, err := s.RefreshDeliveryStats(wait)
	require.NoError(t, err, "skipped at its lock timeout, not waiting")
	require.False(t, ran)
	require.NoError(t, holder.Rollback(ctx))
	refreshes(t, s, pool, 5000) // and runs once the lock is gone
}
