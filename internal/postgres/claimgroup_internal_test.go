package postgres

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func call(job int64, claim ...int64) *claimCall {
	return &claimCall{job: job, claim: claim, installation: "i", domain: "d"}
}

func jobsOf(calls []*claimCall) []int64 {
	var out []int64
	for _, c := range calls {
		out = append(out, c.job)
	}
	return out
}

// TestNextStatement: a statement takes its leader's call and every queued
// one it can, in order, never two naming one delivery (recorded or
// claimed), never one another leader runs, never two installations or
// domains, never past the size bound.
func TestNextStatement(t *testing.T) {
	alone := call(1, 1)
	calls, rest := nextStatement(alone, []*claimCall{alone})
	require.Equal(t, []int64{1}, jobsOf(calls))
	require.Empty(t, rest)

	led := call(8, 80)
	led.leads = true // another leader's, about to run
	first := call(1, 10, 11)
	q := []*claimCall{led, call(2, 20), first, call(3, 11), call(4, 40), call(5, 20, 50)}
	q[4].outs.ids = []int64{10} // recording what job 1 claims: not in one statement either
	other := call(6, 60)
	other.domain = "e"
	q = append(q, other, call(7, 70))
	calls, rest = nextStatement(first, q)
	require.Equal(t, []int64{1, 2, 7}, jobsOf(calls), "the leader's own call first")
	require.Equal(t, []int64{8, 3, 4, 5, 6}, jobsOf(rest), "the rest keep their order")

	big := call(1, make([]int64, claimStatementMax)...)
	calls, rest = nextStatement(big, []*claimCall{big, call(2, -1)})
	require.Equal(t, []int64{1}, jobsOf(calls), "the leader's call goes, however big")
	require.Equal(t, []int64{2}, jobsOf(rest))
	full := make([]int64, claimStatementMax-1)
	for i := range full {
		full[i] = int64(i + 1)
	}
	first = call(1, full...)
	calls, rest = nextStatement(first, []*claimCall{first, call(2, -1), call(3, -2, -3)})
	require.Equal(t, []int64{1, 2}, jobsOf(calls), "up to the bound")
	require.Equal(t, []int64{3}, jobsOf(rest))
}

// groupRecorder is a fake statement runner: it records each statement's
// jobs, holds a statement while a gate of its says so, and claims what
// each call asks for.
type groupRecorder struct {
	mu         sync.Mutex
	statements [][]int64
	claims     map[int64][]int64     // job → the claims its call carried into a statement
	gates      map[int]chan struct{} // statement number → released when closed
}

func (r *groupRecorder) run(_ context.Context, calls []*claimCall) {
	r.mu.Lock()
	n := len(r.statements)
	r.statements = append(r.statements, jobsOf(calls))
	if r.claims == nil {
		r.claims = map[int64][]int64{}
	}
	for _, c := range calls {
		r.claims[c.job] = c.claim
	}
	gate := r.gates[n]
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	for _, c := range calls {
		c.marked = slices.Clone(c.claim)
		close(c.done)
	}
}

func (r *groupRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.statements)
}

// starter returns a func that makes a call in a goroutine of its own,
// checks it got its claims and closes answered[job] when it returns.
func starter(t *testing.T, g *claimGroup, r *groupRecorder, answered map[int64]chan struct{}) func(*claimCall) {
	return func(c *claimCall) {
		done := make(chan struct{})
		answered[c.job] = done
		go func() {
			g.do(context.Background(), c, r.run)
			assert.Equal(t, c.claim, c.marked)
			close(done)
		}()
	}
}

func queued(g *claimGroup) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// TestClaimGroupShares: calls that arrive while a statement runs share the
// next one, run by the first of them; the caller that ran a statement
// returns when its own call is answered, not when the queue is empty; two
// calls naming one delivery go in turn.
func TestClaimGroupShares(t *testing.T) {
	g := claimGroup{max: 1}
	r := &groupRecorder{gates: map[int]chan struct{}{0: make(chan struct{}), 1: make(chan struct{})}}
	ctx := context.Background()
	answered := map[int64]chan struct{}{}
	start := starter(t, &g, r, answered)
	start(call(1, 1))
	require.Eventually(t, func() bool { return r.count() == 1 }, 5*time.Second, time.Millisecond)
	// Queued one by one, so that their order is known.
	for j := int64(2); j <= 6; j++ {
		if j == 6 {
			start(call(6, 3)) // names job 3's delivery
		} else {
			start(call(j, j))
		}
		require.Eventually(t, func() bool { return queued(&g) == int(j-1) }, 5*time.Second, time.Millisecond)
	}
	close(r.gates[0])
	<-answered[1]
	require.Eventually(t, func() bool { return r.count() == 2 }, 5*time.Second, time.Millisecond)
	select {
	case <-answered[1]:
	default:
		t.Fatal("the first caller is still held while the second statement runs")
	}
	close(r.gates[1])
	for j := int64(2); j <= 6; j++ {
		<-answered[j]
	}
	require.Equal(t, [][]int64{{1}, {2, 3, 4, 5}, {6}}, r.statements)
	require.Zero(t, queued(&g))
	g.mu.Lock()
	require.Zero(t, g.running, "no leader once the queue is empty")
	g.mu.Unlock()

	// Alone, a call runs at once.
	c := call(9, 9)
	g.do(ctx, c, r.run)
	require.Equal(t, []int64{9}, c.marked)
	require.Equal(t, []int64{9}, r.statements[3])
}

// TestClaimGroupCancel: a call whose context ends while it is queued
// withdraws its claim: with nothing else to run it leaves the queue, with
// outcomes to record it stays and records them, claiming nothing; either
// way it returns its context's error. A call whose context ends once
// another leader's statement has taken it waits for that statement's
// answer.
func TestClaimGroupCancel(t *testing.T) {
	g := claimGroup{max: 1}
	r := &groupRecorder{gates: map[int]chan struct{}{0: make(chan struct{}), 1: make(chan struct{})}}
	go g.do(context.Background(), call(1, 1), r.run)
	require.Eventually(t, func() bool { return r.count() == 1 }, 5*time.Second, time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	left := call(2, 2)
	leftDone := make(chan struct{})
	go func() { g.do(ctx, left, r.run); close(leftDone) }()
	require.Eventually(t, func() bool { return queued(&g) == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	<-leftDone
	require.ErrorIs(t, left.err, context.Canceled)
	require.ErrorIs(t, left.err, ErrClaimWithdrawn)
	require.Nil(t, left.marked)
	require.Zero(t, queued(&g), "it left the queue")

	// Queued behind statement 0: x (whose statement it will be), then
	// follower, then recorder (outcomes of its last chunk, a claim).
	x, follower, recorder := call(3, 3), call(4, 4), call(5, 5)
	recorder.outs.ids = []int64{50}
	followerCtx, cancelFollower := context.WithCancel(context.Background())
	defer cancelFollower()
	recorderCtx, cancelRecorder := context.WithCancel(context.Background())
	answered := map[*claimCall]chan struct{}{}
	for _, q := range []struct {
		c   *claimCall
		ctx context.Context
	}{{x, context.Background()}, {follower, followerCtx}, {recorder, recorderCtx}} {
		done := make(chan struct{})
		answered[q.c] = done
		go func() { g.do(q.ctx, q.c, r.run); close(done) }()
		n := len(answered)
		require.Eventually(t, func() bool { return queued(&g) == n }, 5*time.Second, time.Millisecond)
	}
	cancelRecorder()
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return recorder.withdrawn
	}, 5*time.Second, time.Millisecond)
	require.Equal(t, 3, queued(&g), "with outcomes to record, it stays")
	close(r.gates[0])
	require.Eventually(t, func() bool { return r.count() == 2 }, 5*time.Second, time.Millisecond)
	cancelFollower() // statement 1 holds it
	select {
	case <-answered[follower]:
		t.Fatal("returned before its statement ran")
	case <-time.After(50 * time.Millisecond):
	}
	close(r.gates[1])
	for _, done := range answered {
		<-done
	}
	require.NoError(t, follower.err)
	require.Equal(t, []int64{4}, follower.marked)
	require.ErrorIs(t, recorder.err, ErrClaimWithdrawn, "its claim was withdrawn")
	require.ErrorIs(t, recorder.err, context.Canceled)
	require.Nil(t, recorder.marked)
	require.Equal(t, [][]int64{{1}, {3, 4, 5}}, r.statements, "call 2 in no statement; call 5 in one, for its outcomes")
	require.Nil(t, r.claims[5], "call 5 claimed nothing")
	g.mu.Lock()
	require.Zero(t, g.running)
	require.Empty(t, g.queue)
	g.mu.Unlock()
}

// TestClaimGroupCancelRace: a queued call's context ends just before the
// lead comes its way. Whichever wakes it first, that call is in no
// statement and the call queued behind it is claimed: the lead is not
// lost with the call that gave up.
func TestClaimGroupCancelRace(t *testing.T) {
	for range 200 {
		g := claimGroup{max: 1}
		r := &groupRecorder{gates: map[int]chan struct{}{0: make(chan struct{})}}
		go g.do(context.Background(), call(1, 1), r.run)
		require.Eventually(t, func() bool { return r.count() == 1 }, 5*time.Second, time.Millisecond)
		ctx, cancel := context.WithCancel(context.Background())
		quitter, behind := call(2, 2), call(3, 3)
		quit := make(chan struct{})
		go func() { g.do(ctx, quitter, r.run); close(quit) }()
		require.Eventually(t, func() bool { return queued(&g) == 1 }, 5*time.Second, time.Millisecond)
		behindDone := make(chan struct{})
		go func() { g.do(context.Background(), behind, r.run); close(behindDone) }()
		require.Eventually(t, func() bool { return queued(&g) == 2 }, 5*time.Second, time.Millisecond)
		cancel()
		close(r.gates[0])
		<-quit
		<-behindDone
		require.Equal(t, []int64{3}, behind.marked)
		for _, st := range r.statements {
			require.NotContains(t, st, int64(2), "the call that gave up was claimed")
		}
		require.ErrorIs(t, quitter.err, context.Canceled)
		require.ErrorIs(t, quitter.err, ErrClaimWithdrawn)
		g.mu.Lock()
		require.Zero(t, g.running)
		require.Empty(t, g.queue)
		g.mu.Unlock()
	}
}

// TestClaimGroupLeadAfterCancel: a call handed the lead after its context
// ended runs no statement, and hands the lead to the next queued call;
// one with outcomes to record runs its statement for them alone.
func TestClaimGroupLeadAfterCancel(t *testing.T) {
	quitter, next := call(1, 1), call(2, 2)
	quitter.leads = true
	quitter.done, next.done = make(chan struct{}), make(chan struct{})
	next.lead = make(chan struct{}, 1)
	g := claimGroup{max: 1, running: 1, queue: []*claimCall{quitter, next}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &groupRecorder{}
	g.lead(ctx, quitter, r.run)
	require.True(t, quitter.withdrawn, "withdrawn (do answers it with ErrClaimWithdrawn)")
	require.Zero(t, r.count(), "no statement run")
	require.Equal(t, []*claimCall{next}, g.queue)
	require.True(t, next.leads)
	require.Len(t, next.lead, 1, "the lead went to the next call")
	require.Equal(t, 1, g.running, "still one leader: the next call")

	// With outcomes to record, it runs its statement, claiming nothing.
	recorder := call(3, 3)
	recorder.outs.ids = []int64{30}
	recorder.leads, recorder.done = true, make(chan struct{})
	g = claimGroup{max: 1, running: 1, queue: []*claimCall{recorder}}
	g.lead(ctx, recorder, r.run)
	require.Equal(t, [][]int64{{3}}, r.statements)
	require.Nil(t, r.claims[3])
	require.True(t, recorder.withdrawn)
	require.Zero(t, g.running)
}

// TestClaimGroupTwoLeaders: a statement that hangs (a row lock) holds up
// its own calls only; the second place serves the rest, and its queue
// shares statements as with one.
func TestClaimGroupTwoLeaders(t *testing.T) {
	g := claimGroup{max: 2}
	r := &groupRecorder{gates: map[int]chan struct{}{0: make(chan struct{}), 2: make(chan struct{})}}
	answered := map[int64]chan struct{}{}
	start := starter(t, &g, r, answered)
	start(call(1, 1)) // hangs
	require.Eventually(t, func() bool { return r.count() == 1 }, 5*time.Second, time.Millisecond)
	start(call(2, 2))
	<-answered[2]     // at once, beside the hanging one
	start(call(3, 3)) // hangs too: both places taken
	require.Eventually(t, func() bool { return r.count() == 3 }, 5*time.Second, time.Millisecond)
	start(call(4, 4))
	require.Eventually(t, func() bool { return queued(&g) == 1 }, 5*time.Second, time.Millisecond) // 4 waits
	start(call(5, 5))
	require.Eventually(t, func() bool { return queued(&g) == 2 }, 5*time.Second, time.Millisecond)
	close(r.gates[2])
	<-answered[3]
	<-answered[4]
	<-answered[5]
	close(r.gates[0])
	<-answered[1]
	require.Equal(t, [][]int64{{1}, {2}, {3}, {4, 5}}, r.statements)
	g.mu.Lock()
	require.Zero(t, g.running)
	require.Empty(t, g.queue)
	g.mu.Unlock()
}
