package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// A send chunk's commit (RecordAndClaim) is what sending costs PostgreSQL
// most: on the send benchmark the commits, each waiting for its WAL
// flush, cost more than the rows they change (docs/scaling.md, "How big
// a chunk"). Fewer commits by larger chunks would leave more messages
// unknown after a crash. Instead, the calls of the send jobs that commit
// at the same moment share one statement and so one commit: each job's
// chunk stays as small as it was, and its claims are as durable, as
// before its messages go.
//
// There is no waiting for company. A caller runs its statement at once
// when fewer than claimLeaders statements are running; otherwise it
// queues, and when a statement ends its leader hands the lead to the
// first queued call, which runs the next statement for itself and the
// queued calls that fit. The busier the database, the longer a statement
// takes and the more calls share the next one (2.1–2.5 on average on the
// send benchmark). With one statement at a time, a statement waiting for
// a row lock (a cancel updating the campaign's deliveries) holds up the
// process's other send jobs until it ends (claimLeaders).

// ErrClaimWithdrawn is RecordAndClaim's error when its context ended
// before a statement took the call: the outcomes were recorded and the
// chunk was certainly not claimed, unlike after any other error, which
// may have committed. It wraps the context's error.
var ErrClaimWithdrawn = errors.New("claim withdrawn: the send job gave up before its statement ran")

// claimCall is one send job's RecordAndClaim, waiting to be run.
type claimCall struct {
	outs         outcomes
	claim        []int64
	job          int64
	installation string
	domain       string

	marked []int64 // the answer: the ids claimed
	err    error
	done   chan struct{} // closed once answered
	lead   chan struct{} // a token: run a statement for c and the queue
	leads  bool          // c has the lead (or is about to): no one else runs it; under mu
	// withdrawn: its job gave up before a statement took c, so c claims
	// nothing and only records its outcomes; under mu.
	withdrawn bool
}

// claimGroup queues the RecordAndClaim calls of one Store.
type claimGroup struct {
	mu      sync.Mutex
	queue   []*claimCall
	running int // statements running (leaders)
	max     int // at most so many at once; 0: claimLeaders

	calls      atomic.Int64 // calls made
	statements atomic.Int64 // statements run for them
}

// claimLeaders is how many shared statements may run at once. Two would
// let a statement waiting for a row lock hold up its own calls only, but
// fewer calls meet each statement: on the send benchmark two cost 145–149
// µs a message (rapport and PostgreSQL) against one's 140–142
// (docs/scaling.md), so one it is.
const claimLeaders = 1

// ClaimFigures reports how many RecordAndClaim calls the send jobs made
// through s and in how many statements they ran (more than one call a
// statement: commits shared).
func (s *Store) ClaimFigures() (calls, statements int64) {
	return s.claims.calls.Load(), s.claims.statements.Load()
}

// claimStatementMax bounds the deliveries one merged statement changes.
const claimStatementMax = 2000

// claimTimeout bounds a merged statement. Once a call is in a statement,
// its caller waits for it whatever its own context says: one caller's
// context must not cancel a statement that carries other jobs' calls (a
// call still queued withdraws its claim instead, see leave). A statement
// cut off by its timeout may still commit; callers treat every error but
// ErrClaimWithdrawn as a claim that may have committed.
const claimTimeout = time.Minute

// do runs c in a statement of its own or shared with others (run), and
// returns once c is answered.
func (g *claimGroup) do(ctx context.Context, c *claimCall, run func(context.Context, []*claimCall)) {
	c.done, c.lead = make(chan struct{}), make(chan struct{}, 1)
	defer func() {
		if c.withdrawn && c.err == nil {
			// Its outcomes recorded (if it had any), its chunk not claimed.
			c.err = fmt.Errorf("%w: %w", ErrClaimWithdrawn, ctx.Err())
		}
	}()
	g.calls.Add(1)
	g.mu.Lock()
	g.queue = append(g.queue, c)
	most := g.max
	if most <= 0 {
		most = claimLeaders
	}
	leads := g.running < most
	if leads {
		c.leads = true
		g.running++
	}
	g.mu.Unlock()
	if !leads {
		select {
		case <-c.done:
			return // answered in another caller's statement
		case <-c.lead:
		case <-ctx.Done():
			if g.leave(c) {
				return // withdrawn, nothing to record: the defer answers
			}
			// Outcomes still to record, taken into a statement or handed
			// the lead meanwhile.
			select {
			case <-c.done:
				return
			case <-c.lead:
			}
		}
	}
	g.lead(ctx, c, run)
}

// leave withdraws the claim of c, whose job gave up (its time is up, the
// process is stopping), unless a statement has taken it or it has been
// handed the lead; it takes c out of the queue if that leaves nothing to
// run, and reports whether it did. A chunk claimed for a job that gave up
// would never be sent, and would be recorded unknown instead of going to
// a later job; the outcomes c carries are of messages the server has
// answered, and are recorded all the same.
func (g *claimGroup) leave(c *claimCall) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.leads || !slices.Contains(g.queue, c) {
		return false
	}
	if !c.withdraw() {
		return false
	}
	g.drop(c)
	return true
}

// drop takes c out of the queue; under mu.
func (g *claimGroup) drop(c *claimCall) {
	g.queue = slices.DeleteFunc(g.queue, func(q *claimCall) bool { return q == c })
}

// withdraw drops c's claim, under the group's mu, and reports whether c
// has nothing left to run (no outcomes to record).
func (c *claimCall) withdraw() bool {
	c.claim, c.withdrawn = nil, true
	return len(c.outs.ids) == 0
}

// lead runs a statement for c and the queued calls that fit, then hands
// the lead to the first queued call without one, or gives up its place.
func (g *claimGroup) lead(ctx context.Context, c *claimCall, run func(context.Context, []*claimCall)) {
	g.mu.Lock()
	if ctx.Err() != nil && c.withdraw() {
		// c's job gave up (see leave) with nothing to record: c leaves,
		// and the lead goes on.
		g.drop(c)
		g.mu.Unlock()
		g.handOff()
		return // withdrawn: do's defer answers
	}
	var calls []*claimCall
	calls, g.queue = nextStatement(c, g.queue)
	g.mu.Unlock()
	// Deferred, so that even a panic in run passes the lead on.
	defer g.handOff()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimTimeout)
	defer cancel()
	run(sctx, calls)
}

// handOff gives the lead to the first queued call without one, or gives
// up the leader's place.
func (g *claimGroup) handOff() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, q := range g.queue {
		if !q.leads {
			q.leads = true
			q.lead <- struct{}{}
			return
		}
	}
	g.running--
}

// nextStatement splits off the calls the next statement runs: first, and
// each queued call without a lead of its own with the same installation
// and domain none of whose deliveries is already in the statement (two
// calls may name the same delivery — a delivery enqueued twice, a job's
// stale attempt — and in one statement a row is changed once, so they go
// in turn), up to claimStatementMax deliveries. The rest keep their
// order.
func nextStatement(first *claimCall, queue []*claimCall) (calls, rest []*claimCall) {
	seen := map[int64]bool{}
	n := 0
	take := func(c *claimCall) {
		for _, id := range c.outs.ids {
			seen[id] = true
		}
		for _, id := range c.claim {
			seen[id] = true
		}
		n += len(c.outs.ids) + len(c.claim)
		calls = append(calls, c)
	}
	take(first)
	for _, c := range queue {
		switch {
		case c == first:
		case !c.leads && c.installation == first.installation && c.domain == first.domain &&
			n+len(c.outs.ids)+len(c.claim) <= claimStatementMax && !anySeen(seen, c.outs.ids) && !anySeen(seen, c.claim):
			take(c)
		default:
			rest = append(rest, c)
		}
	}
	return calls, rest
}

func anySeen(seen map[int64]bool, ids []int64) bool {
	for _, id := range ids {
		if seen[id] {
			return true
		}
	}
	return false
}

// runClaims runs calls in one statement and answers each. If a statement
// of several is refused by the server (a CHECK, a deadlock with a cancel:
// an error PostgreSQL reports, so the statement certainly rolled back),
// each call is run again on its own, so that no job fails for another's
// sake. Any other error (the connection, a timeout: it may have
// committed) goes to every call.
func (s *Store) runClaims(ctx context.Context, calls []*claimCall) {
	err := s.claimStatement(ctx, calls)
	var pgErr *pgconn.PgError
	if err != nil && len(calls) > 1 && errors.As(err, &pgErr) && !Unavailable(err) && ctx.Err() == nil {
		for _, c := range calls {
			c.err = s.claimStatement(ctx, []*claimCall{c})
			close(c.done)
		}
		return
	}
	for _, c := range calls {
		c.err = err
		close(c.done)
	}
}

// claimStatement runs calls as one RecordAndClaim and gives each call the
// deliveries claimed for its job.
func (s *Store) claimStatement(ctx context.Context, calls []*claimCall) error {
	s.claims.statements.Add(1)
	p := dbsqlc.RecordAndClaimParams{Installation: calls[0].installation, Domain: calls[0].domain, Now: s.clock.Now(), RetriedRule: RetriedRule}
	owner := map[int64]*claimCall{}
	for _, c := range calls {
		c.marked = nil
		p.Ids = append(p.Ids, c.outs.ids...)
		p.States = append(p.States, c.outs.states...)
		p.Reasons = append(p.Reasons, c.outs.reasons...)
		p.Rules = append(p.Rules, c.outs.rules...)
		p.Planned = append(p.Planned, c.outs.planned...)
		p.AttemptsDelta = append(p.AttemptsDelta, c.outs.delta...)
		p.Codes = append(p.Codes, c.outs.codes...)
		for _, id := range c.claim {
			p.ClaimIds, p.ClaimJobs = append(p.ClaimIds, id), append(p.ClaimJobs, c.job)
			owner[id] = c
		}
	}
	rows, err := s.q.RecordAndClaim(ctx, p)
	if err != nil {
		return mapError("record and claim", err)
	}
	for _, r := range rows {
		// With the ids distinct (nextStatement), a claimed row is always
		// its call's, under its job; checked all the same, as a second
		// fence against a message going twice.
		if c := owner[r.ID]; c != nil && r.SendJobID != nil && *r.SendJobID == c.job {
			c.marked = append(c.marked, r.ID)
		}
	}
	return nil
}
