package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
)

type riverDriver = riverpgxv5.Driver

// SendArgs sends a batch of deliveries due at about the same moment.
type SendArgs struct {
	DeliveryIDs []int64 `json:"delivery_ids"`
}

// Kind names the job.
func (SendArgs) Kind() string { return "send_batch" }

// InsertOpts puts sends on their own queue.
func (SendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSend, MaxAttempts: 10}
}

// SendWorker hands a batch of deliveries to the mail server, keeping every
// promise of the spec:
//
//  1. A transaction L locks the batch's contacts (id order) and holds the
//     locks until the end, so a preference change either commits before the
//     check (and is honoured) or waits until the messages are handed over.
//  2. A short transaction re-checks each delivery (status, suppression, topic,
//     pause, caps against what was really sent, send window), marks the ones
//     that may go 'sending' and commits: from then on a crash leaves them
//     'sending', and the retry marks them 'unknown' instead of resending.
//  3. The messages go out over one pooled SMTP connection.
//  4. L records each outcome and completes the River job, in one commit.
type SendWorker struct {
	river.WorkerDefaults[SendArgs]
	d     *Deps
	cache *contentCache
}

// Timeout bounds a batch: SMTP commands time out on their own well before.
func (w *SendWorker) Timeout(*river.Job[SendArgs]) time.Duration {
	if w.d.SendTimeout > 0 {
		return w.d.SendTimeout
	}
	return 3 * time.Minute
}

// maxAttempts is how often a delivery is tried before temporary failures
// become permanent.
const maxAttempts = 8

// dueSlack lets a job run a little before a delivery's moment count it due;
// River schedules to the second.
const dueSlack = time.Second

// Work sends the batch.
func (w *SendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	pool := w.d.Store.Pool()
	now := w.d.Clock.Now()
	rows, err := dbsqlc.New(pool).SendLoad(ctx, job.Args.DeliveryIDs)
	if err != nil {
		return err
	}
	if err := w.markStale(ctx, job, rows, now); err != nil {
		return err
	}
	// A look at the throttle first, before any lock: deliveries that
	// cannot have a slot within maxPace are left to a later run of this
	// job, which snoozes until their turn, holding no worker and no lock.
	due, turn, err := w.peek(ctx, dueRows(rows, now))
	if err != nil {
		return err
	}
	if len(due) == 0 && !turn.IsZero() {
		return w.snooze(turn)
	}
	err = pgx.BeginFunc(ctx, pool, func(lock pgx.Tx) error {
		later, err := w.sendDue(ctx, job, lock, due)
		if err != nil {
			return err
		}
		if turn = earlier(turn, later); !turn.IsZero() {
			return nil // recorded; the job snoozes for the rest
		}
		_, err = river.JobCompleteTx[*riverDriver](ctx, lock, job)
		return err
	})
	var u *unreachable
	if errors.As(err, &u) {
		// Nothing was claimed: the deliveries stay scheduled and the job
		// waits, without using up any delivery's attempts, however long
		// the server is away.
		w.d.Log.Warn("smtp server unreachable; send batch waits", "job_id", job.ID, "error", u.err.Error())
		w.metric(func(m Metrics) { m.SMTPError("unreachable") })
		return river.JobSnooze(unreachableWait)
	}
	if err == nil && !turn.IsZero() {
		return w.snooze(turn)
	}
	return err
}

// markStale marks unknown the deliveries an earlier attempt of this job
// claimed and died before recording: the server may have them. Never
// resend.
func (w *SendWorker) markStale(ctx context.Context, job *river.Job[SendArgs], rows []dbsqlc.SendLoadRow, now time.Time) error {
	var stale []int64
	for _, r := range rows {
		if r.State == string(outreach.DeliverySending) && r.SendJobID != nil && *r.SendJobID == job.ID {
			stale = append(stale, r.ID)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	marked, err := dbsqlc.New(w.d.Store.Pool()).MarkUnknown(ctx, dbsqlc.MarkUnknownParams{Ids: stale, JobID: &job.ID, Now: now})
	if err != nil {
		return err
	}
	w.metric(func(m Metrics) {
		m.Delivery(string(outreach.DeliveryUnknown), string(outreach.ReasonUnknown), len(marked))
	})
	return nil
}

// dueRows are the scheduled deliveries due now. The job's others are not
// its own any more: re-planned to a later job, or ended.
func dueRows(rows []dbsqlc.SendLoadRow, now time.Time) []dbsqlc.SendLoadRow {
	var due []dbsqlc.SendLoadRow
	for _, r := range rows {
		if r.State == string(outreach.DeliveryScheduled) && !r.PlannedFor.After(now.Add(dueSlack)) {
			due = append(due, r)
		}
	}
	return due
}

// sendDue locks the due deliveries' contacts in lock, holding them until
// the end, re-checks the deliveries and sends those that may go, each at
// its throttle slot. Throttle slots are reserved only now, after the
// check, right before the messages go: slots taken earlier would be stale
// by then, and the batch would catch up in a burst. It returns when to try
// again the ones that got no slot (zero: none).
func (w *SendWorker) sendDue(ctx context.Context, job *river.Job[SendArgs], lock pgx.Tx, due []dbsqlc.SendLoadRow) (time.Time, error) {
	if len(due) == 0 {
		return time.Time{}, nil
	}
	ids := make([]int64, 0, len(due))
	want := make(map[int64]bool, len(due))
	for _, r := range due {
		want[r.ID] = true
		if len(ids) == 0 || ids[len(ids)-1] != r.ContactID { // SendLoad orders by contact
			ids = append(ids, r.ContactID)
		}
	}
	contacts, err := dbsqlc.New(lock).LockContacts(ctx, ids)
	if err != nil {
		return time.Time{}, err
	}
	ready, err := w.check(ctx, job, contacts, want)
	if err != nil || len(ready) == 0 {
		return time.Time{}, err
	}
	slots, ready, later, err := w.reserve(ctx, ready)
	if err != nil || len(ready) == 0 {
		return later, err
	}
	sess, err := w.d.Transport.Session(ctx)
	if err != nil {
		return time.Time{}, &unreachable{err}
	}
	defer sess.Close()
	return later, w.sendAll(ctx, job, lock, sess, ready, slots)
}

// snooze puts the job back until turn. A short snooze makes River's job
// available again at once, due at turn, so the wait is not stretched to
// its scheduler's interval.
func (w *SendWorker) snooze(turn time.Time) error {
	wait := max(turn.Sub(w.d.Clock.Now()), 0)
	w.metric(func(m Metrics) { m.ThrottleWait(wait) })
	return river.JobSnooze(wait)
}

// unreachable is a send batch finding no SMTP connection before it claimed
// anything.
type unreachable struct{ err error }

func (u *unreachable) Error() string { return "smtp unreachable: " + u.err.Error() }

// unreachableWait is how long a batch waits when the SMTP server cannot be
// reached, and how soon a message is retried after its connection failed
// before the server had it.
const unreachableWait = 30 * time.Second

// ClaimChunk is how many deliveries are marked 'sending' per commit. A
// worker killed mid-batch leaves at most this many (not the whole batch)
// 'sending', to be marked unknown. Each chunk costs one commit, which also
// records the previous chunk's outcomes, so a small chunk is cheap.
const ClaimChunk = 10

// outgoing is a claimed delivery and its message.
type outgoing struct {
	row      dbsqlc.SendLoadRow
	contact  outreach.Contact
	envelope *mailer.Envelope
}

// check re-checks the job's due deliveries for the locked contacts, in its
// own committed transaction: deliveries that must never go are ended with
// their reason, those that may go later are re-planned, and the rest are
// returned ready to send (not yet claimed).
func (w *SendWorker) check(ctx context.Context, job *river.Job[SendArgs], locked []dbsqlc.Contact, want map[int64]bool) ([]outgoing, error) {
	var ready []outgoing
	err := pgx.BeginFunc(ctx, w.d.Store.Pool(), func(tx pgx.Tx) error {
		ready = nil
		q := dbsqlc.New(tx)
		now := w.d.Clock.Now()
		c, err := w.newCheck(ctx, tx, locked, now)
		if err != nil {
			return err
		}
		rows, err := q.SendLoad(ctx, job.Args.DeliveryIDs)
		if err != nil {
			return err
		}
		var replans []due
		for _, r := range rows {
			if !want[r.ID] || r.State != string(outreach.DeliveryScheduled) || r.PlannedFor.After(now.Add(dueSlack)) {
				continue // not this run's, handled elsewhere, or re-planned to a later job
			}
			contact, known := c.contacts[r.ContactID]
			if !known {
				continue
			}
			o, replan, err := w.checkOne(ctx, q, c, r, contact, now)
			if err != nil {
				return err
			}
			if replan != nil {
				replans = append(replans, *replan)
			}
			if o != nil {
				ready = append(ready, *o)
			}
		}
		return EnqueueSends(ctx, tx, replans, now, w.d.SendBatch)
	})
	return ready, err
}

// claim marks a chunk of ready deliveries 'sending' in tx, so they are
// recorded as handed over before the SMTP conversation. It marks the chunk
// tried and each delivery it claimed (one changed meanwhile is left out).
func (w *SendWorker) claim(ctx context.Context, tx pgx.Tx, job *river.Job[SendArgs], chunk []attempt) error {
	ids := make([]int64, len(chunk))
	for i := range chunk {
		ids[i] = chunk[i].row.ID
	}
	marked, err := dbsqlc.New(tx).MarkSending(ctx, dbsqlc.MarkSendingParams{Ids: ids, JobID: &job.ID, Domain: w.domain(), Now: w.d.Clock.Now()})
	if err != nil {
		return err
	}
	got := make(map[int64]bool, len(marked))
	for _, id := range marked {
		got[id] = true
	}
	for i := range chunk {
		chunk[i].tried = true
		chunk[i].claimed = got[chunk[i].row.ID]
	}
	return nil
}

// attempt is one ready delivery after the batch: whether it was claimed and
// what the server said.
type attempt struct {
	outgoing
	tried   bool // its chunk was claimed (whether or not it got it)
	claimed bool
	result  mailer.Result
}

// attempts wraps ready deliveries, each "not sent" until the server answers.
func attempts(ready []outgoing) []attempt {
	out := make([]attempt, len(ready))
	for i, o := range ready {
		out[i] = attempt{outgoing: o, result: mailer.Result{Outcome: mailer.TempFail, Unsent: true, Detail: "not sent"}}
	}
	return out
}

// sendAll claims, sends and records the ready deliveries chunk by chunk,
// each message at its throttle slot (see sendOrder). One commit records a
// chunk's outcomes and claims the next, so a killed worker leaves at most
// one chunk 'sending' at one commit per chunk. The last chunk is recorded
// with the job's completion in the lock transaction. Once the connection
// is gone the rest are neither claimed nor sent: they go to a later job.
func (w *SendWorker) sendAll(ctx context.Context, job *river.Job[SendArgs], lock pgx.Tx, sess mailer.Session, ready []outgoing, slots map[int64]time.Time) error {
	pace := newPacer(slots)
	order := newSendOrder(ready, pace)
	var updates contactUpdates
	var done []attempt // sent, not yet recorded
	for next := order.next(ctx); next != nil; next = order.next(ctx) {
		if late(ctx, pace.at(next[len(next)-1].row.ID)) {
			// A slow server: what is left goes to a later job rather than
			// run into the job's timeout half sent.
			order.putBack(next)
			break
		}
		chunk := attempts(next)
		err := pgx.BeginFunc(ctx, w.d.Store.Pool(), func(tx pgx.Tx) error {
			if err := w.record(ctx, tx, done, &updates); err != nil {
				return err
			}
			return w.claim(ctx, tx, job, chunk)
		})
		if err != nil {
			return err
		}
		done = chunk
		if w.sendChunk(ctx, sess, chunk, pace) {
			break
		}
	}
	// Whatever was not handed out (connection gone, time up) stays
	// scheduled for a later job.
	done = append(done, attempts(order.rest())...)
	if err := w.record(ctx, lock, done, &updates); err != nil {
		return err
	}
	return updates.apply(ctx, dbsqlc.New(lock), w.d.Clock.Now())
}

// lookahead is how soon a throttled message's slot must come for it to be
// claimed with the chunk about to go.
const lookahead = 50 * time.Millisecond

// sendOrder hands out a batch's messages a chunk at a time, in the order
// they should go: throttled messages as their slots come, and the messages
// free to go at once in between. Sending the free ones first, all of them,
// would make the throttled ones late, and late ones go back to back: a
// burst above their domain's rate.
type sendOrder struct {
	free  []outgoing // could go when sending began
	timed []outgoing // the rest, by slot
	pace  *pacer
}

func newSendOrder(ready []outgoing, pace *pacer) *sendOrder {
	slices.SortStableFunc(ready, func(a, b outgoing) int { return pace.slots[a.row.ID].Compare(pace.slots[b.row.ID]) })
	now := time.Now()
	i, _ := slices.BinarySearchFunc(ready, now.Add(lookahead), func(o outgoing, t time.Time) int {
		if pace.at(o.row.ID).After(t) {
			return 1
		}
		return -1
	})
	return &sendOrder{free: ready[:i:i], timed: ready[i:], pace: pace}
}

// next returns the next chunk (up to ClaimChunk messages), waiting for the
// next slot when nothing can go yet; nil when none is left or ctx ends.
func (o *sendOrder) next(ctx context.Context) []outgoing {
	for {
		n := 0
		due := time.Now().Add(lookahead)
		for n < len(o.timed) && n < ClaimChunk && !o.pace.at(o.timed[n].row.ID).After(due) {
			n++
		}
		if n > 0 {
			chunk := o.timed[:n:n]
			o.timed = o.timed[n:]
			return chunk
		}
		if len(o.free) > 0 {
			n = min(ClaimChunk, len(o.free))
			chunk := o.free[:n:n]
			o.free = o.free[n:]
			return chunk
		}
		if len(o.timed) == 0 {
			return nil
		}
		if sleep(ctx, time.Until(o.pace.at(o.timed[0].row.ID))-lookahead) != nil {
			return nil
		}
	}
}

// putBack returns a chunk next handed out and that will not go.
func (o *sendOrder) putBack(chunk []outgoing) { o.free = append(chunk, o.free...) }

// rest is what next has not handed out.
func (o *sendOrder) rest() []outgoing { return slices.Concat(o.free, o.timed) }

// stopMargin is the part of a send job's time kept for recording what it
// sent: no chunk is claimed that would still be sending after it.
const stopMargin = 10 * time.Second

// late reports whether a chunk whose last message goes at last would run
// into the job's deadline.
func late(ctx context.Context, last time.Time) bool {
	dl, ok := ctx.Deadline()
	return ok && last.After(dl.Add(-stopMargin))
}

// sendChunk sends what a chunk claimed. It reports whether the connection
// is gone, leaving the rest of the chunk unsent.
func (w *SendWorker) sendChunk(ctx context.Context, sess mailer.Session, chunk []attempt, pace *pacer) bool {
	for i := range chunk {
		a := &chunk[i]
		if !a.claimed {
			continue
		}
		pace.wait(a.row.ID)
		start := time.Now()
		a.result = sess.Send(context.WithoutCancel(ctx), a.envelope)
		w.metric(func(m Metrics) {
			m.SendLatency(time.Since(start))
			if a.result.Outcome != mailer.Accepted {
				m.SMTPError(a.result.Outcome.String())
			}
		})
		if a.result.Unsent {
			return true // the session already tried a fresh connection
		}
	}
	return false
}

// pacer sends each message at its throttle slot. Slots were reserved before
// the batch locked and checked its contacts, so it usually starts a little
// late: the whole schedule shifts by that lag instead of sending the
// overdue messages back to back, which would burst above the rate.
type pacer struct {
	slots map[int64]time.Time
	lag   time.Duration
	set   bool
}

func newPacer(slots map[int64]time.Time) *pacer { return &pacer{slots: slots} }

// wait sleeps until the message's turn.
func (p *pacer) wait(id int64) {
	if _, ok := p.slots[id]; ok && !p.set {
		p.set = true
		p.lag = max(0, time.Since(p.slots[id]))
	}
	if d := time.Until(p.at(id)); d > 0 {
		time.Sleep(d)
	}
}

// at is the message's turn: its slot shifted by the batch's lag, or now
// when it has no slot (no throttle).
func (p *pacer) at(id int64) time.Time {
	slot, ok := p.slots[id]
	if !ok {
		return time.Now()
	}
	lag := p.lag
	if !p.set {
		lag = max(0, time.Since(slot))
	}
	return slot.Add(lag)
}

func (w *SendWorker) domain() string { return outreach.EmailDomain(w.d.From.Address) }

// check is the state a batch's send-time checks run against.
type check struct {
	planner     *planner.Planner
	campaigns   map[int64]outreach.Campaign
	contacts    map[int64]outreach.Contact
	suppression map[int64]outreach.SuppressionReason
	sent        map[int64][]cadence.Event // what was really sent, plus what this batch claims
	window      time.Duration
}

func (w *SendWorker) newCheck(ctx context.Context, tx pgx.Tx, locked []dbsqlc.Contact, now time.Time) (*check, error) {
	q := dbsqlc.New(tx)
	tiers, err := w.d.Store.Tiers(ctx)
	if err != nil {
		return nil, err
	}
	c := &check{
		planner:   w.d.planner(tiers),
		campaigns: map[int64]outreach.Campaign{},
		contacts:  map[int64]outreach.Contact{},
		sent:      map[int64][]cadence.Event{},
		window:    longest(tiers),
	}
	ids := make([]int64, len(locked))
	for i, row := range locked {
		ids[i] = row.ID
		c.contacts[row.ID] = postgres.ContactFromRow(row)
	}
	if c.suppression, err = suppressionsOf(ctx, q, locked); err != nil {
		return nil, err
	}
	sent, err := q.SentHistory(ctx, dbsqlc.SentHistoryParams{ContactIds: ids, Since: now.Add(-c.window)})
	if err != nil {
		return nil, err
	}
	for _, s := range sent {
		c.sent[s.ContactID] = append(c.sent[s.ContactID], cadence.Event{At: s.At})
	}
	return c, nil
}

func (w *SendWorker) campaign(ctx context.Context, q *dbsqlc.Queries, c *check, id int64) (outreach.Campaign, error) {
	if camp, ok := c.campaigns[id]; ok {
		return camp, nil
	}
	row, err := q.CampaignGet(ctx, id)
	if err != nil {
		return outreach.Campaign{}, err
	}
	camp := postgres.CampaignFromRow(row)
	c.campaigns[id] = camp
	return camp, nil
}

// checkOne decides whether one delivery may go now. It ends it (skipped or
// failed) when it must never go, re-plans it when it may go later, and
// returns the message when it may go now.
func (w *SendWorker) checkOne(ctx context.Context, q *dbsqlc.Queries, c *check, r dbsqlc.SendLoadRow, contact outreach.Contact, now time.Time) (*outgoing, *due, error) {
	camp, err := w.campaign(ctx, q, c, r.CampaignID)
	if err != nil {
		return nil, nil, err
	}
	end := func(state outreach.DeliveryState, reason outreach.Reason, rule string) (*outgoing, *due, error) {
		return nil, nil, w.end(ctx, q, r.ID, state, reason, rule, now)
	}
	switch camp.Status {
	case outreach.CampaignPaused:
		return nil, nil, nil // held; resume re-plans it
	case outreach.CampaignCanceled:
		return end(outreach.DeliverySkipped, outreach.ReasonCanceled, "")
	}
	if reason := planner.Blocked(contact, c.suppression[contact.ID], camp.Category, camp.Topic, now); reason != "" {
		return end(outreach.DeliverySkipped, reason, "")
	}
	if r.ExpiresAt != nil && now.After(*r.ExpiresAt) {
		return end(outreach.DeliverySkipped, outreach.ReasonExpired, "expires_after")
	}
	if r.Marketing {
		tier, _ := c.planner.EffectiveTier(contact)
		req := cadence.Request{Rule: tier.Rule, Location: c.planner.Zone(contact), History: c.sent[contact.ID], Now: now}
		if ok, _, _ := cadence.Check(req); !ok {
			return w.replan(ctx, q, c, r, camp, contact, now)
		}
		c.sent[contact.ID] = append(c.sent[contact.ID], cadence.Event{At: now})
	}
	env, err := w.envelope(camp, contact, r)
	if err != nil {
		return end(outreach.DeliveryFailed, outreach.ReasonFailedPermanent, "template: "+err.Error())
	}
	return &outgoing{row: r, contact: contact, envelope: env}, nil, nil
}

// replan moves a delivery that may not go now to its next valid moment, or
// skips it as expired. Deliveries this batch already claimed for the
// contact count as sent.
func (w *SendWorker) replan(ctx context.Context, q *dbsqlc.Queries, c *check, r dbsqlc.SendLoadRow, camp outreach.Campaign, contact outreach.Contact, now time.Time) (*outgoing, *due, error) {
	rng := rand.New(rand.NewPCG(uint64(r.ID), uint64(now.UnixNano())))
	d, err := w.d.replanOne(ctx, q, c.planner, contact, r.ID, r.ExpiresAt, camp.Priority, c.sent[contact.ID], c.window, now, rng)
	return nil, d, err
}

// maxPace is the furthest ahead a send job reserves throttle slots and
// waits for them. Deliveries whose turn is later wait for a later run of
// the job, which snoozes until then. It bounds how long a batch holds a
// worker and its contacts' locks (and so how long a customer's unsubscribe
// may wait for it) beyond the sending itself, and stays under River's
// scheduler interval (5 s), below which a snoozed job comes back on time.
const maxPace = 2 * time.Second

// peek keeps the due deliveries that could have a throttle slot within
// maxPace, reserving nothing, and returns when to try the others (zero:
// none left out).
func (w *SendWorker) peek(ctx context.Context, due []dbsqlc.SendLoadRow) ([]dbsqlc.SendLoadRow, time.Time, error) {
	if w.d.Throttle == nil || len(due) == 0 {
		return due, time.Time{}, nil
	}
	domains := make([]string, len(due))
	for i, r := range due {
		domains[i] = outreach.EmailDomain(r.Email)
	}
	got, err := w.d.Throttle.PeekWithin(ctx, w.d.Clock.Now(), domains, maxPace)
	if err != nil {
		return nil, time.Time{}, err
	}
	var keep []dbsqlc.SendLoadRow
	var turn time.Time
	for i, r := range due {
		if got[i].Reserved {
			keep = append(keep, r)
		} else {
			turn = earlier(turn, got[i].At)
		}
	}
	return keep, turn, nil
}

// reserve takes throttle slots, up to maxPace ahead, for the ready
// messages. It returns the slots by delivery (nil: no throttle), the
// messages that got one, and when to try the others again (zero: none).
func (w *SendWorker) reserve(ctx context.Context, ready []outgoing) (map[int64]time.Time, []outgoing, time.Time, error) {
	if w.d.Throttle == nil {
		return nil, ready, time.Time{}, nil
	}
	domains := make([]string, len(ready))
	for i, o := range ready {
		domains[i] = outreach.EmailDomain(o.contact.Email)
	}
	now := w.d.Clock.Now()
	got, err := w.d.Throttle.ReserveWithin(ctx, now, domains, maxPace)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	slots := make(map[int64]time.Time, len(ready))
	keep := ready[:0]
	var turn, first time.Time
	for i, o := range ready {
		if got[i].Reserved {
			slots[o.row.ID] = got[i].At
			keep = append(keep, o)
			first = earlier(first, got[i].At)
		} else {
			turn = earlier(turn, got[i].At)
		}
	}
	if !first.IsZero() {
		w.metric(func(m Metrics) { m.ThrottleWait(max(first.Sub(now), 0)) })
	}
	return slots, keep, turn, nil
}

// earlier is the earlier of two moments, a zero one counting as none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *SendWorker) metric(f func(Metrics)) {
	if w.d.Metrics != nil {
		f(w.d.Metrics)
	}
}

// contactUpdates are the contact rows a batch changes (last_sent_at, a
// bounce's status). The batch holds those rows locked in its lock
// transaction, so only that transaction can write them: chunks recorded
// before it collect them here.
type contactUpdates struct {
	touched, bounced []int64
}

// apply writes the collected contact changes in the lock transaction.
func (u *contactUpdates) apply(ctx context.Context, q *dbsqlc.Queries, now time.Time) error {
	if len(u.touched) > 0 {
		if err := q.TouchLastSent(ctx, dbsqlc.TouchLastSentParams{Ids: u.touched, Now: now}); err != nil {
			return err
		}
	}
	for _, id := range u.bounced {
		if err := q.ContactSetStatus(ctx, dbsqlc.ContactSetStatusParams{ID: id, Status: string(outreach.StatusBounced), Now: now}); err != nil {
			return err
		}
	}
	return nil
}

// record writes a chunk's outcomes in tx, collecting contact changes in u.
func (w *SendWorker) record(ctx context.Context, tx pgx.Tx, all []attempt, u *contactUpdates) error {
	q := dbsqlc.New(tx)
	now := w.d.Clock.Now()
	var sent []int64
	var retries []due
	for _, a := range all {
		res := a.result
		switch {
		case !a.tried:
			// Never claimed (the connection was gone first, or the job's
			// time ran out): still scheduled; a later job sends it.
			retries = append(retries, due{id: a.row.ID, at: now.Add(unreachableWait)})
		case !a.claimed:
			// Changed by someone else between the check and the claim.
		case res.Outcome == mailer.Accepted:
			sent = append(sent, a.row.ID)
			if a.row.Marketing {
				u.touched = append(u.touched, a.contact.ID)
			}
		case res.Outcome == mailer.Uncertain:
			if err := w.end(ctx, q, a.row.ID, outreach.DeliveryUnknown, outreach.ReasonUnknown, trim(res.Detail), now); err != nil {
				return err
			}
		case res.Outcome == mailer.PermFail:
			if err := w.bounce(ctx, q, a.outgoing, res, now); err != nil {
				return err
			}
			u.bounced = append(u.bounced, a.contact.ID)
		case res.Unsent:
			at := now.Add(unreachableWait)
			if err := q.MarkUnsent(ctx, dbsqlc.MarkUnsentParams{ID: a.row.ID, PlannedFor: at, Now: now}); err != nil {
				return err
			}
			retries = append(retries, due{id: a.row.ID, at: at})
		case int(a.row.Attempts)+1 >= maxAttempts:
			if err := w.end(ctx, q, a.row.ID, outreach.DeliveryFailed, outreach.ReasonFailedPermanent, "retries exhausted: "+trim(res.Detail), now); err != nil {
				return err
			}
		default:
			at := now.Add(backoff(int(a.row.Attempts) + 1))
			if err := q.MarkRetry(ctx, dbsqlc.MarkRetryParams{ID: a.row.ID, PlannedFor: at, Now: now}); err != nil {
				return err
			}
			retries = append(retries, due{id: a.row.ID, at: at})
		}
	}
	if len(sent) > 0 {
		if err := q.MarkSent(ctx, dbsqlc.MarkSentParams{Ids: sent, Now: now}); err != nil {
			return err
		}
		w.metric(func(m Metrics) { m.Delivery(string(outreach.DeliverySent), string(outreach.ReasonSent), len(sent)) })
	}
	w.slowDown(ctx, all, now)
	return EnqueueSends(ctx, tx, retries, now, w.d.SendBatch)
}

// end puts a delivery in a terminal state and counts it.
func (w *SendWorker) end(ctx context.Context, q *dbsqlc.Queries, id int64, state outreach.DeliveryState, reason outreach.Reason, rule string, now time.Time) error {
	return w.d.end(ctx, q, id, state, reason, rule, now)
}

// slowDown backs off each domain that answered "slow down", once per batch.
func (w *SendWorker) slowDown(ctx context.Context, all []attempt, now time.Time) {
	if w.d.Throttle == nil {
		return
	}
	done := map[string]bool{}
	for _, a := range all {
		d := outreach.EmailDomain(a.contact.Email)
		if a.claimed && a.result.SlowDown() && !done[d] {
			done[d] = true
			if rate, err := w.d.Throttle.SlowDown(ctx, now, d); err != nil {
				w.d.Log.Warn("throttle back-off failed", "domain", d, "error", err.Error())
			} else {
				w.d.Log.Info("domain asked us to slow down", "domain", d, "rate_per_second", rate)
			}
		}
	}
}

// bounce ends a delivery the server refused for good and suppresses the
// address, so it is never tried again (the contact's status follows in the
// lock transaction, see contactUpdates).
func (w *SendWorker) bounce(ctx context.Context, q *dbsqlc.Queries, o outgoing, res mailer.Result, now time.Time) error {
	if err := w.end(ctx, q, o.row.ID, outreach.DeliveryFailed, outreach.ReasonFailedPermanent, trim(res.Detail), now); err != nil {
		return err
	}
	email := o.contact.Email
	return q.SuppressionUpsert(ctx, dbsqlc.SuppressionUpsertParams{EmailHash: postgres.EmailHash(email), Email: &email, Reason: string(outreach.SuppressBounce), Now: now})
}

// backoff is the wait before retry n (1-based): 1m, 2m, 4m … capped at 1h,
// with the jitter River's own retries would have.
func backoff(n int) time.Duration {
	d := time.Minute << min(n-1, 6)
	if d > time.Hour {
		d = time.Hour
	}
	return d + time.Duration(rand.Int64N(int64(d/10)+1))
}

func trim(s string) string {
	if len(s) > 300 {
		return s[:300]
	}
	return s
}

var _ = fmt.Sprintf
