package postgres_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

// claimFixture is a running campaign with scheduled deliveries, for the
// send path's statements alone.
type claimFixture struct {
	pool  *pgxpool.Pool
	store *postgres.Store
	camp  int64
	next  int64 // the next contact id
}

// newClaimFixture's store runs one RecordAndClaim statement at a time
// when leaders is 1 (calls behind it queue, so their order is known), or
// as many as the store does (0).
func newClaimFixture(t *testing.T, leaders int) *claimFixture {
	t.Helper()
	pool := pgtest.Pool(t)
	f := &claimFixture{pool: pool, store: postgres.NewStore(pool, fixedClock{time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}), next: 1}
	require.NoError(t, pool.QueryRow(context.Background(), `INSERT INTO campaigns (name, category, content, status, created_at, updated_at)
		VALUES ('claims', 'marketing', '{}', 'running', now(), now()) RETURNING id`).Scan(&f.camp))
	if leaders > 0 {
		postgres.SetClaimLeaders(f.store, leaders)
	}
	return f
}

// deliveries adds n scheduled deliveries and returns their ids.
func (f *claimFixture) deliveries(t *testing.T, n int) []int64 {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `INSERT INTO deliveries (run_id, campaign_id, contact_id, marketing, priority, tier,
		state, reason, planned_for, created_at, updated_at)
		SELECT 1, $1, g, true, 50, 'high', 'scheduled', 'planned', now(), now(), now() FROM generate_series($2::bigint, $3::bigint) g
		RETURNING id`, f.camp, f.next, f.next+int64(n)-1)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	f.next += int64(n)
	slices.Sort(ids)
	return ids
}

// owners maps each delivery to its state and the job that claimed it.
func (f *claimFixture) owners(t *testing.T, ids []int64) map[int64]string {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `SELECT id, state || ':' || coalesce(send_job_id::text, '-') || ':' || attempts::text
		FROM deliveries WHERE id = ANY($1)`, ids)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var s string
		require.NoError(t, rows.Scan(&id, &s))
		out[id] = s
	}
	require.NoError(t, rows.Err())
	return out
}

// block holds a row lock on delivery id until the returned func is
// called, so that a statement changing it waits.
func (f *claimFixture) block(t *testing.T, id int64) func() {
	t.Helper()
	ctx := context.Background()
	tx, err := f.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SELECT 1 FROM deliveries WHERE id = $1 FOR UPDATE", id)
	require.NoError(t, err)
	return func() { _ = tx.Rollback(ctx) }
}

func sent(ids []int64) []postgres.Outcome {
	outs := make([]postgres.Outcome, len(ids))
	for i, id := range ids {
		outs[i] = postgres.Outcome{ID: id, State: outreach.DeliverySent, Reason: outreach.ReasonSent, Code: 250}
	}
	return outs
}

type claimAnswer struct {
	marked []int64
	err    error
}

// claimAsync runs RecordAndClaim in a goroutine; its answer comes on the
// channel.
func (f *claimFixture) claimAsync(ctx context.Context, outs []postgres.Outcome, ids []int64, job int64) chan claimAnswer {
	ch := make(chan claimAnswer, 1)
	go func() {
		m, err := f.store.RecordAndClaim(ctx, outs, ids, job, "inst", "example.com")
		slices.Sort(m)
		ch <- claimAnswer{m, err}
	}()
	return ch
}

// waitQueued waits until n calls wait behind a running statement.
func (f *claimFixture) waitQueued(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return postgres.ClaimsQueued(f.store) == n }, 10*time.Second, time.Millisecond)
}

// TestRecordAndClaimShared: send jobs whose chunk commits meet share one
// statement, and each gets back exactly its own claims, recorded under
// its own job; then their records share one too.
func TestRecordAndClaimShared(t *testing.T) {
	t.Parallel()
	f := newClaimFixture(t, 1)
	ctx := context.Background()
	chunks := make([][]int64, 6)
	for j := range chunks {
		chunks[j] = f.deliveries(t, 10)
	}
	release := f.block(t, chunks[0][0])
	answers := []chan claimAnswer{f.claimAsync(ctx, nil, chunks[0], 100)}
	require.Eventually(t, func() bool { return postgres.ClaimStatements(f.store) == 1 }, 10*time.Second, time.Millisecond)
	for j := 1; j < len(chunks); j++ {
		answers = append(answers, f.claimAsync(ctx, nil, chunks[j], int64(100+j)))
	}
	f.waitQueued(t, len(chunks)-1)
	release()
	for j, ch := range answers {
		a := <-ch
		require.NoError(t, a.err)
		require.Equal(t, chunks[j], a.marked, "job %d gets its own claims", j)
	}
	require.EqualValues(t, 2, postgres.ClaimStatements(f.store), "the five that met share one statement")
	all := slices.Concat(chunks...)
	states := f.owners(t, all)
	for j, chunk := range chunks {
		for _, id := range chunk {
			require.Equal(t, "sending:"+strconv.Itoa(100+j)+":1", states[id])
		}
	}

	// Their records, also met behind a held row.
	release = f.block(t, chunks[0][0])
	answers = []chan claimAnswer{f.claimAsync(ctx, sent(chunks[0]), nil, 100)}
	require.Eventually(t, func() bool { return postgres.ClaimStatements(f.store) == 3 }, 10*time.Second, time.Millisecond)
	for j := 1; j < len(chunks); j++ {
		answers = append(answers, f.claimAsync(ctx, sent(chunks[j]), nil, int64(100+j)))
	}
	f.waitQueued(t, len(chunks)-1)
	release()
	for _, ch := range answers {
		a := <-ch
		require.NoError(t, a.err)
		require.Empty(t, a.marked)
	}
	require.EqualValues(t, 4, postgres.ClaimStatements(f.store))
	for id, s := range f.owners(t, all) {
		require.Contains(t, s, "sent:", "delivery %d", id)
	}
}

// TestRecordAndClaimContended: two calls naming the same deliveries (a
// delivery enqueued in two jobs, or a job's stale attempt and its retry,
// with the same job id) never both get one: each delivery is claimed
// once, by the call the database says, whether they meet behind another
// statement or race.
func TestRecordAndClaimContended(t *testing.T) {
	t.Parallel()
	f := newClaimFixture(t, 1)
	ctx := context.Background()
	for _, jobs := range [][2]int64{{7, 8}, {9, 9}} {
		// Met: queued behind a third job's statement, they go in turn.
		other := f.deliveries(t, 1)
		ids := f.deliveries(t, 5)
		release := f.block(t, other[0])
		before := postgres.ClaimStatements(f.store)
		first := f.claimAsync(ctx, nil, other, 1)
		require.Eventually(t, func() bool { return postgres.ClaimStatements(f.store) == before+1 }, 10*time.Second, time.Millisecond)
		a := f.claimAsync(ctx, nil, ids, jobs[0])
		f.waitQueued(t, 1)
		b := f.claimAsync(ctx, nil, ids, jobs[1])
		f.waitQueued(t, 2)
		release()
		require.NoError(t, (<-first).err)
		ra, rb := <-a, <-b
		require.NoError(t, ra.err)
		require.NoError(t, rb.err)
		require.Equal(t, ids, ra.marked, "the first queued claims them")
		require.Empty(t, rb.marked, "the second finds them claimed")

		// Raced, many times.
		for range 30 {
			ids := f.deliveries(t, 5)
			a, b := f.claimAsync(ctx, nil, ids, jobs[0]), f.claimAsync(ctx, nil, ids, jobs[1])
			ra, rb := <-a, <-b
			require.NoError(t, ra.err)
			require.NoError(t, rb.err)
			require.ElementsMatch(t, ids, slices.Concat(ra.marked, rb.marked), "every delivery claimed exactly once")
			states := f.owners(t, ids)
			for _, id := range ra.marked {
				require.Equal(t, "sending:"+strconv.Itoa(int(jobs[0]))+":1", states[id])
			}
			for _, id := range rb.marked {
				require.Equal(t, "sending:"+strconv.Itoa(int(jobs[1]))+":1", states[id])
			}
		}
	}
}

// TestRecordAndClaimAloneOnFailure: when a shared statement fails for one
// call's sake, the others are run again on their own and succeed; only
// the faulty call gets the error.
func TestRecordAndClaimAloneOnFailure(t *testing.T) {
	t.Parallel()
	f := newClaimFixture(t, 1)
	ctx := context.Background()
	other, good, bad := f.deliveries(t, 1), f.deliveries(t, 3), f.deliveries(t, 3)
	_, err := f.pool.Exec(ctx, "UPDATE deliveries SET state = 'sending', send_job_id = 3 WHERE id = ANY($1)", bad)
	require.NoError(t, err)
	faulty := sent(bad)
	faulty[1].State = "lost" // not a state: the table's CHECK refuses the statement
	release := f.block(t, other[0])
	first := f.claimAsync(ctx, nil, other, 1)
	require.Eventually(t, func() bool { return postgres.ClaimStatements(f.store) == 1 }, 10*time.Second, time.Millisecond)
	g := f.claimAsync(ctx, nil, good, 2)
	f.waitQueued(t, 1)
	b := f.claimAsync(ctx, faulty, nil, 3)
	f.waitQueued(t, 2)
	release()
	require.NoError(t, (<-first).err)
	rg, rb := <-g, <-b
	require.NoError(t, rg.err)
	require.Equal(t, good, rg.marked)
	require.Error(t, rb.err)
	require.EqualValues(t, 4, postgres.ClaimStatements(f.store), "the blocker, the shared one that failed, then each alone")
	states := f.owners(t, slices.Concat(good, bad))
	for _, id := range good {
		require.Equal(t, "sending:2:1", states[id])
	}
	for _, id := range bad {
		require.Equal(t, "sending:3:0", states[id], "the faulty call changed nothing")
	}
}

// TestRecordAndClaimManyJobs: sixteen jobs sending chunk by chunk at once,
// as the send workers do, each get exactly their own claims back and end
// with every delivery sent once under their own job.
func TestRecordAndClaimManyJobs(t *testing.T) {
	t.Parallel()
	f := newClaimFixture(t, 0)
	ctx := context.Background()
	const jobs, perJob, chunk = 16, 60, 10
	batches := make([][]int64, jobs)
	for j := range batches {
		batches[j] = f.deliveries(t, perJob)
	}
	var wg sync.WaitGroup
	for j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var done []int64
			for lo := 0; lo <= perJob; lo += chunk {
				next := batches[j][lo:min(lo+chunk, perJob)]
				m, err := f.store.RecordAndClaim(ctx, sent(done), next, int64(1000+j), "inst", "example.com")
				if !assert.NoError(t, err) {
					return
				}
				assert.ElementsMatch(t, next, m)
				done = next
			}
		}()
	}
	wg.Wait()
	for j, batch := range batches {
		for id, s := range f.owners(t, batch) {
			require.Equal(t, "sent:"+strconv.Itoa(1000+j)+":1", s, "delivery %d", id)
		}
	}
	calls := int64(jobs * (perJob/chunk + 1))
	t.Logf("%d calls in %d statements", calls, postgres.ClaimStatements(f.store))
	require.LessOrEqual(t, postgres.ClaimStatements(f.store), calls)
}

// TestRecordAndClaimHeldAlone: with two statements at a time, a statement
// waiting for a row lock (a cancel updating the campaign's deliveries,
// say) holds up its own call only; the other jobs' commits go on beside
// it.
func TestRecordAndClaimHeldAlone(t *testing.T) {
	t.Parallel()
	f := newClaimFixture(t, 2)
	ctx := context.Background()
	held, free := f.deliveries(t, 3), f.deliveries(t, 30)
	release := f.block(t, held[0])
	waiting := f.claimAsync(ctx, nil, held, 1)
	require.Eventually(t, func() bool { return postgres.ClaimStatements(f.store) == 1 }, 10*time.Second, time.Millisecond)
	for i := 0; i < len(free); i += 10 {
		a := <-f.claimAsync(ctx, nil, free[i:i+10], int64(2+i))
		require.NoError(t, a.err)
		require.Equal(t, free[i:i+10], a.marked)
	}
	select {
	case <-waiting:
		t.Fatal("the held statement went through under a row lock")
	default:
	}
	release()
	a := <-waiting
	require.NoError(t, a.err)
	require.Equal(t, held, a.marked)
}
