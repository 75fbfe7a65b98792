package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
	q := dbsqlc.New(pool)
	now := w.d.Clock.Now()
	rows, err := q.SendLoad(ctx, job.Args.DeliveryIDs)
	if err != nil {
		return err
	}
	var stale []int64
	var contactIDs []int64
	seen := map[int64]bool{}
	for _, r := range rows {
		switch {
		case r.State == string(outreach.DeliverySending) && r.SendJobID != nil && *r.SendJobID == job.ID:
			stale = append(stale, r.ID)
		case r.State == string(outreach.DeliveryScheduled) && !seen[r.ContactID]:
			seen[r.ContactID] = true
			contactIDs = append(contactIDs, r.ContactID)
		}
	}
	if len(stale) > 0 {
		// An earlier attempt of this job claimed these and died before
		// recording the outcome: the server may have them. Never resend.
		marked, err := q.MarkUnknown(ctx, dbsqlc.MarkUnknownParams{Ids: stale, JobID: &job.ID, Now: now})
		if err != nil {
			return err
		}
		w.metric(func(m Metrics) {
			m.Delivery(string(outreach.DeliveryUnknown), string(outreach.ReasonUnknown), len(marked))
		})
	}
	err = pgx.BeginFunc(ctx, pool, func(lock pgx.Tx) error {
		if len(contactIDs) > 0 {
			contacts, err := dbsqlc.New(lock).LockContacts(ctx, contactIDs)
			if err != nil {
				return err
			}
			ready, err := w.check(ctx, job, contacts)
			if err != nil {
				return err
			}
			// Throttle slots are taken only now, for what will really go,
			// right before it goes: slots taken earlier would be stale by
			// the time the batch starts, and it would catch up in a burst.
			slots, wait, err := w.reserve(ctx, ready)
			if err != nil {
				return err
			}
			if slots == nil && wait > 0 {
				return &throttled{wait}
			}
			if ready, err = w.deferFar(ctx, lock, ready, slots); err != nil {
				return err
			}
			if len(ready) > 0 {
				sess, err := w.d.Transport.Session(ctx)
				if err != nil {
					return &unreachable{err}
				}
				err = w.sendAll(ctx, job, lock, sess, ready, slots)
				sess.Close()
				if err != nil {
					return err
				}
			}
		}
		_, err := river.JobCompleteTx[*riverDriver](ctx, lock, job)
		return err
	})
	var th *throttled
	if errors.As(err, &th) {
		// Nothing was claimed or reserved: the job waits its turn in the
		// queue, holding no worker and no lock; delayed, never dropped.
		return river.JobSnooze(th.wait)
	}
	var u *unreachable
	if errors.As(err, &u) {
		// Nothing was claimed: the deliveries stay scheduled and the job
		// waits, without using up any delivery's attempts, however long
		// the server is away.
		w.d.Log.Warn("smtp server unreachable; send batch waits", "job_id", job.ID, "error", u.err.Error())
		w.metric(func(m Metrics) { m.SMTPError("unreachable") })
		return river.JobSnooze(unreachableWait)
	}
	return err
}

// throttled is a send batch whose first throttle slot is too far off.
type throttled struct{ wait time.Duration }

func (t *throttled) Error() string { return "throttled for " + t.wait.String() }

// unreachable is a send batch finding no SMTP connection before it claimed
// anything.
type unreachable struct{ err error }

func (u *unreachable) Error() string { return "smtp unreachable: " + u.err.Error() }

// unreachableWait is how long a batch waits when the SMTP server cannot be
// reached, and how soon a message is retried after its connection failed
// before the server had it.
const unreachableWait = 30 * time.Second

// claimChunk is how many deliveries are marked 'sending' per commit. A
// worker killed mid-batch leaves at most this many (not the whole batch)
// 'sending', to be marked unknown; each chunk costs one commit.
const claimChunk = 50

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
func (w *SendWorker) check(ctx context.Context, job *river.Job[SendArgs], locked []dbsqlc.Contact) ([]outgoing, error) {
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
			if r.State != string(outreach.DeliveryScheduled) || r.PlannedFor.After(now.Add(dueSlack)) {
				continue // handled elsewhere, or re-planned to a later job
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

// claimChunkOf marks a chunk of ready deliveries 'sending' and commits, so
// they are recorded as handed over before the SMTP conversation. It returns
// the ones it claimed (a delivery changed meanwhile is left out).
func (w *SendWorker) claimChunkOf(ctx context.Context, job *river.Job[SendArgs], chunk []outgoing) (map[int64]bool, error) {
	ids := make([]int64, len(chunk))
	for i, o := range chunk {
		ids[i] = o.row.ID
	}
	marked, err := dbsqlc.New(w.d.Store.Pool()).MarkSending(ctx, dbsqlc.MarkSendingParams{Ids: ids, JobID: &job.ID, Domain: w.domain(), Now: w.d.Clock.Now()})
	if err != nil {
		return nil, err
	}
	got := make(map[int64]bool, len(marked))
	for _, id := range marked {
		got[id] = true
	}
	return got, nil
}

// attempt is one ready delivery after the batch: whether it was claimed and
// what the server said.
type attempt struct {
	outgoing
	tried   bool // its chunk was claimed (whether or not it got it)
	claimed bool
	result  mailer.Result
}

// sendAll claims, sends and records the ready deliveries chunk by chunk,
// each message at its throttle slot. Each chunk's outcomes are committed
// as soon as it is done, the last one's with the job's completion in the
// lock transaction, so a killed worker leaves at most one chunk 'sending'.
// Once the connection is gone the rest are neither claimed nor sent: they
// go to a later job.
func (w *SendWorker) sendAll(ctx context.Context, job *river.Job[SendArgs], lock pgx.Tx, sess mailer.Session, ready []outgoing, slots map[int64]time.Time) error {
	pace := newPacer(slots)
	down := false
	var updates contactUpdates
	for start := 0; start < len(ready); start += claimChunk {
		end := min(start+claimChunk, len(ready))
		chunk := make([]attempt, 0, end-start)
		for _, o := range ready[start:end] {
			chunk = append(chunk, attempt{outgoing: o, result: mailer.Result{Outcome: mailer.TempFail, Unsent: true, Detail: "not sent"}})
		}
		if !down {
			var err error
			if down, err = w.sendChunk(ctx, job, sess, chunk, pace); err != nil {
				return err
			}
		}
		if end == len(ready) {
			if err := w.record(ctx, lock, chunk, &updates); err != nil {
				return err
			}
			return updates.apply(ctx, dbsqlc.New(lock), w.d.Clock.Now())
		}
		if err := pgx.BeginFunc(ctx, w.d.Store.Pool(), func(tx pgx.Tx) error { return w.record(ctx, tx, chunk, &updates) }); err != nil {
			return err
		}
	}
	return nil
}

// sendChunk claims a chunk and sends what it claimed. It reports whether
// the connection is gone.
func (w *SendWorker) sendChunk(ctx context.Context, job *river.Job[SendArgs], sess mailer.Session, chunk []attempt, pace *pacer) (bool, error) {
	list := make([]outgoing, len(chunk))
	for i := range chunk {
		list[i] = chunk[i].outgoing
	}
	got, err := w.claimChunkOf(ctx, job, list)
	if err != nil {
		return false, err
	}
	down := false
	for i := range chunk {
		a := &chunk[i]
		a.tried = true
		if a.claimed = got[a.row.ID]; !a.claimed || down {
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
		down = a.result.Unsent // the session already tried a fresh connection
	}
	return down, nil
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

func (p *pacer) wait(id int64) {
	slot, ok := p.slots[id]
	if !ok {
		return
	}
	if !p.set {
		p.set = true
		p.lag = max(0, time.Since(slot))
	}
	if d := time.Until(slot.Add(p.lag)); d > 0 {
		time.Sleep(d)
	}
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

// maxThrottleWait is the longest a send job sleeps for its first throttle
// slot; beyond it the job is snoozed instead. maxPace is the furthest slot a
// batch keeps; messages whose slot is later go to a later job.
const (
	maxThrottleWait = 5 * time.Second
	maxPace         = 30 * time.Second
)

// reserve takes throttle slots for the ready messages, one each, and waits
// until the first. With no slot within maxThrottleWait it reserves nothing
// and returns the wait.
func (w *SendWorker) reserve(ctx context.Context, ready []outgoing) (map[int64]time.Time, time.Duration, error) {
	if w.d.Throttle == nil || len(ready) == 0 {
		return nil, 0, nil
	}
	domains := make([]string, len(ready))
	for i, o := range ready {
		domains[i] = outreach.EmailDomain(o.contact.Email)
	}
	got, wait, err := w.d.Throttle.ReserveWithin(ctx, w.d.Clock.Now(), domains, maxThrottleWait)
	if err != nil || got == nil {
		w.metric(func(m Metrics) { m.ThrottleWait(wait) })
		return nil, wait, err
	}
	slots := make(map[int64]time.Time, len(ready))
	for i, o := range ready {
		slots[o.row.ID] = got[i]
	}
	if wait > 0 {
		w.metric(func(m Metrics) { m.ThrottleWait(wait) })
		if err := sleep(ctx, wait); err != nil {
			return nil, 0, err
		}
	}
	return slots, 0, nil
}

// deferFar hands the messages whose domain's turn is more than maxPace
// away to a later job, due at their slot, rather than hold this batch's
// locks until it comes.
func (w *SendWorker) deferFar(ctx context.Context, lock pgx.Tx, ready []outgoing, slots map[int64]time.Time) ([]outgoing, error) {
	now := w.d.Clock.Now()
	keep := ready[:0]
	var later []due
	for _, o := range ready {
		if slot, ok := slots[o.row.ID]; ok && slot.Sub(now) > maxPace {
			later = append(later, due{id: o.row.ID, at: slot})
			continue
		}
		keep = append(keep, o)
	}
	return keep, EnqueueSends(ctx, lock, later, now, w.d.SendBatch)
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
			// Never claimed (the connection was gone first): still
			// scheduled; a later job sends it.
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
