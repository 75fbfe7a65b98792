package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
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

func (w *SendWorker) domain() string { return outreach.EmailDomain(w.d.From.Address) }

func (w *SendWorker) metric(f func(Metrics)) {
	if w.d.Metrics != nil {
		f(w.d.Metrics)
	}
}
