package jobs

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/mail"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/throttle"
	"github.com/rapport-dev/rapport/internal/token"
)

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

// Throttle paces sends across all worker processes (throttle.Limiter).
type Throttle interface {
	ReserveWithin(ctx context.Context, now time.Time, domains []string, horizon time.Duration) ([]throttle.Slot, error)
	PeekWithin(ctx context.Context, now time.Time, domains []string, horizon time.Duration) ([]throttle.Slot, error)
	SlowDown(ctx context.Context, now time.Time, domain string) (float64, error)
}

// Mail is how messages are made and handed over.
type Mail struct {
	Renderer  *render.Renderer
	Transport mailer.Transport
	Links     token.Links
	From      *mail.Address
	// Installation is this installation's id, part of every Message-ID.
	Installation string
	// BounceDomain, when set, makes each marketing message's envelope
	// sender bounces+<signed delivery tag>@BounceDomain (VERP), so a
	// bounce names exactly one delivery.
	BounceDomain string
	// ListIDDomain names the lists in List-Id (<topic>.<ListIDDomain>);
	// FeedbackSender is the last field of Feedback-ID
	// (campaign:topic:sender). Gmail asks bulk senders for both.
	ListIDDomain   string
	FeedbackSender string
}

// SendConfig is what a SendWorker needs besides the store.
type SendConfig struct {
	Clock outreach.Clock
	// Sleep waits for d or until ctx ends (nil: real time). Pacing to the
	// throttle's slots uses it with Clock, so tests can run it on a fake
	// clock.
	Sleep     func(ctx context.Context, d time.Duration) error
	Log       *slog.Logger
	Cadence   Cadence
	Mail      Mail
	Throttle  Throttle // nil: no throttle
	Metrics   Metrics  // nil: none
	SendBatch int      // deliveries per send job, for the jobs it enqueues
	// ClaimChunk is how many deliveries are claimed per commit (0:
	// DefaultClaimChunk; at most MaxClaimChunk): the most a kill leaves
	// unknown per worker.
	ClaimChunk int
	Timeout    time.Duration
	// Stopping is closed when the process stops gracefully: a running
	// batch finishes the chunk in hand, records it and claims no more;
	// the rest of its deliveries go to other workers at once.
	Stopping <-chan struct{}
}

// SendWorker hands a batch of deliveries to the mail server, keeping every
// promise of the spec:
//
//  1. A transaction L locks the batch's contacts (id order) and holds the
//     locks until the end, so a preference change either commits before the
//     check (and is honoured) or waits until the messages are handed over.
//  2. A short transaction re-checks each delivery (sendcheck.Check) and
//     ends or re-plans the ones that may not go now.
//  3. Chunk by chunk, a commit records the previous chunk's outcomes and
//     claims the next ('sending'): from then on a crash leaves them
//     'sending', and the retry marks them 'unknown' instead of resending.
//  4. The messages go out over one pooled SMTP connection, each at its
//     throttle slot, each rendered right before it goes.
//  5. L records the last outcomes, the contacts' changes (a bounce's
//     suppression through the one suppression path) and completes the
//     River job, in one commit.
type SendWorker struct {
	river.WorkerDefaults[SendArgs]
	store *postgres.Store
	cfg   SendConfig
	cache *contentCache
}

// NewSendWorker returns the send worker.
func NewSendWorker(store *postgres.Store, cfg SendConfig) *SendWorker {
	if cfg.Clock == nil {
		cfg.Clock = outreach.SystemClock{}
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Minute
	}
	if cfg.ClaimChunk <= 0 {
		cfg.ClaimChunk = DefaultClaimChunk
	}
	cfg.ClaimChunk = min(cfg.ClaimChunk, MaxClaimChunk)
	return &SendWorker{store: store, cfg: cfg, cache: newContentCache()}
}

// Timeout bounds a batch: SMTP commands time out on their own well before.
func (w *SendWorker) Timeout(*river.Job[SendArgs]) time.Duration { return w.cfg.Timeout }

// dueSlack lets a job run a little before a delivery's moment count it due;
// River schedules to the second.
const dueSlack = time.Second

// Work sends the batch.
func (w *SendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	now := w.cfg.Clock.Now()
	items, err := w.store.SendLoad(ctx, job.Args.DeliveryIDs)
	if err != nil {
		return err
	}
	if err := w.finishDead(ctx, job, items); err != nil {
		return err
	}
	// A look at the throttle first, before any lock: deliveries that
	// cannot have a slot within maxPace are left to a later run of this
	// job, which snoozes until their turn, holding no worker and no lock.
	due, turn, err := w.peek(ctx, dueItems(items, now))
	if err != nil {
		return err
	}
	if len(due) == 0 && !turn.IsZero() {
		return w.snooze(turn)
	}
	b := w.newBatch(job)
	err = w.store.InTx(ctx, func(lock *postgres.Tx) error {
		if err := lock.GenericPlans(ctx); err != nil {
			return err
		}
		later, err := w.sendDue(ctx, b, lock, due)
		if err != nil {
			return err
		}
		if turn = earlier(turn, later); !turn.IsZero() {
			return nil // recorded; the job snoozes for the rest
		}
		_, err = river.JobCompleteTx[*riverDriver](ctx, lock.RiverTx(), job)
		return err
	})
	var u *unreachable
	switch {
	case errors.As(err, &u):
		// Nothing was claimed: the deliveries stay scheduled and the job
		// waits, without using up any delivery's attempts, however long
		// the server is away.
		w.cfg.Log.Warn("smtp server unreachable; send batch waits", "job_id", job.ID, "error", u.err.Error())
		w.cfg.Metrics.SMTPError("unreachable")
		return river.JobSnooze(unreachableWait)
	case len(b.pending) > 0 && (postgres.Unavailable(err) || (err != nil && ctx.Err() != nil)):
		// The database went away, or the job's context ended (a hard
		// stop, its timeout), with messages handed over: what the server
		// said is written once the database is back, past the context,
		// so none of them ends unknown and none is sent again, and what
		// was claimed and not sent goes back.
		return w.recover(ctx, b, err)
	case err == nil && !turn.IsZero():
		return w.snooze(turn)
	case err == nil:
		w.completeCampaigns(ctx, items)
	}
	return err
}

// completeCampaigns completes the batch's campaigns if it sent their last
// messages. A failure here only delays completion to the periodic sweep
// (FireDue), so it is logged, not returned: the batch itself is done.
func (w *SendWorker) completeCampaigns(ctx context.Context, items []postgres.SendItem) {
	seen := map[int64]bool{}
	for _, it := range items {
		if seen[it.CampaignID] {
			continue
		}
		seen[it.CampaignID] = true
		if _, err := w.store.CompleteCampaign(ctx, it.CampaignID); err != nil {
			w.cfg.Log.Warn("campaign completion left to the sweep", "campaign_id", it.CampaignID, "error", err.Error())
		}
	}
}

// finishDead finishes what an earlier attempt of this job did not (its
// worker died): the deliveries it claimed and did not record are marked
// unknown — the server may have them; never resend — and the addresses it
// recorded as refused for good are suppressed, which it would have done at
// its end.
func (w *SendWorker) finishDead(ctx context.Context, job *river.Job[SendArgs], items []postgres.SendItem) error {
	var stale []int64
	for _, it := range items {
		if it.State == outreach.DeliverySending && it.SendJobID == job.ID {
			stale = append(stale, it.ID)
		}
	}
	if len(stale) > 0 {
		n, err := w.store.MarkUnknown(ctx, stale, job.ID)
		if err != nil {
			return err
		}
		w.cfg.Metrics.Delivery(string(outreach.DeliveryUnknown), string(outreach.ReasonUnknown), n)
	}
	if job.Attempt <= 1 {
		return nil
	}
	bounced, err := w.store.BouncedUnsuppressed(ctx, job.Args.DeliveryIDs, job.ID)
	if err != nil || len(bounced) == 0 {
		return err
	}
	return w.store.InTx(ctx, func(tx *postgres.Tx) error {
		for _, b := range bounced {
			if _, err := tx.Suppress(ctx, bounceActor, b.Email, outreach.SuppressBounce, map[string]any{"delivery_id": b.DeliveryID}); err != nil {
				return err
			}
		}
		return nil
	})
}

// dueItems are the scheduled deliveries due now. The job's others are not
// its own any more: re-planned to a later job, or ended.
func dueItems(items []postgres.SendItem, now time.Time) []postgres.SendItem {
	var due []postgres.SendItem
	for _, it := range items {
		if it.State == outreach.DeliveryScheduled && !it.PlannedFor.After(now.Add(dueSlack)) {
			due = append(due, it)
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
func (w *SendWorker) sendDue(ctx context.Context, b *batch, lock *postgres.Tx, due []postgres.SendItem) (time.Time, error) {
	if len(due) == 0 {
		return time.Time{}, nil
	}
	ids := make([]int64, 0, len(due))
	want := make(map[int64]bool, len(due))
	for _, it := range due {
		want[it.ID] = true
		if len(ids) == 0 || ids[len(ids)-1] != it.ContactID { // SendLoad orders by contact
			ids = append(ids, it.ContactID)
		}
	}
	contacts, err := lock.LockContacts(ctx, ids)
	if err != nil {
		return time.Time{}, err
	}
	ready, err := w.check(ctx, b.job, contacts, want)
	if err != nil || len(ready) == 0 {
		return time.Time{}, err
	}
	slots, ready, later, err := w.reserve(ctx, ready)
	if err != nil || len(ready) == 0 {
		return later, err
	}
	sess, err := w.cfg.Mail.Transport.Session(ctx)
	if err != nil {
		return time.Time{}, &unreachable{err}
	}
	defer sess.Close()
	return later, w.sendAll(ctx, b, lock, sess, ready, slots)
}

// snooze puts the job back until turn. A short snooze makes River's job
// available again at once, due at turn, so the wait is not stretched to
// its scheduler's interval.
func (w *SendWorker) snooze(turn time.Time) error {
	wait := max(turn.Sub(w.cfg.Clock.Now()), 0)
	w.cfg.Metrics.ThrottleWait(wait)
	return river.JobSnooze(wait)
}

// unreachable is a send batch finding no SMTP connection before it claimed
// anything.
type unreachable struct{ err error }

func (u *unreachable) Error() string { return "smtp unreachable: " + u.err.Error() }

// unreachableWait is how long a batch waits when the SMTP server cannot be
// reached.
const unreachableWait = 30 * time.Second

// DefaultClaimChunk is how many deliveries a send job marks 'sending' per
// commit unless SendConfig.ClaimChunk says otherwise. A worker killed
// mid-batch leaves at most this many (not the whole batch) 'sending', to be
// marked unknown. Each chunk costs one commit, which also records the
// previous chunk's outcomes; on the send benchmark the commits, not the
// rows, are what a small chunk costs (docs/scaling.md, "How big a chunk").
const DefaultClaimChunk = 10

// MaxClaimChunk bounds SendConfig.ClaimChunk: past it the commits saved
// are few and a kill leaves more unknown.
const MaxClaimChunk = 100

// outgoing is a delivery that passed the check, and its message.
type outgoing struct {
	item postgres.SendItem
	// contact and camp are shared by the batch's deliveries (the locked
	// contacts, the campaigns read by the check), not copied into each:
	// a delivery's copies of them were a third of a batch's garbage.
	contact *outreach.Contact
	camp    *outreach.Campaign
	// envelope is the message, rendered by sendChunk right before it
	// goes; its bodies (parts) go back to the renderer once it went. One
	// left unsent (a stop while pacing) is left to the garbage collector:
	// b.pending may hold a copy of the attempt, and releasing both would
	// hand one buffer to two messages.
	envelope *mailer.Envelope
	parts    render.Parts
}

// sendAll claims, sends and records the ready deliveries chunk by chunk,
// each message at its throttle slot (see sendOrder). One commit records a
// chunk's outcomes and claims the next, so a killed worker leaves at most
// one chunk 'sending' at one commit per chunk. The last chunk is recorded
// with the job's completion in the lock transaction. Once the connection
// is gone, the job's time is up or the process is stopping, the rest are
// neither claimed nor sent: they go to a later job. Whatever was handed
// over and not yet committed stays in b.pending until it is.
func (w *SendWorker) sendAll(ctx context.Context, b *batch, lock *postgres.Tx, sess mailer.Session, ready []outgoing, slots map[int64]time.Time) error {
	pace := w.newPacer(slots)
	order := newSendOrder(ready, pace, w.cfg.ClaimChunk)
	var done []attempt // sent, not yet recorded
	for next := order.next(ctx); next != nil; next = order.next(ctx) {
		if w.stopping() || late(ctx, pace.at(next[len(next)-1].item.ID)) {
			// Stopping, or a slow server: what is left goes to a later
			// job rather than run into the job's timeout half sent.
			order.putBack(next)
			break
		}
		chunk := attempts(next)
		cw := b.rec.prepare(done)
		var err error
		if len(cw.retries) == 0 {
			// The common chunk: nothing to enqueue again, so recording
			// and claiming are one statement (Store.RecordAndClaim).
			b.rec.slowDown(ctx, cw.slow, w.cfg.Clock.Now())
			err = w.recordAndClaim(ctx, b.job, cw.outs, chunk)
		} else {
			err = w.store.InTx(ctx, func(tx *postgres.Tx) error {
				if err := b.rec.write(ctx, tx, cw); err != nil {
					return err
				}
				return w.claim(ctx, tx, b.job, chunk)
			})
		}
		if errors.Is(err, postgres.ErrClaimWithdrawn) {
			// The job gave up while its commit waited: the outcomes are
			// recorded, the chunk certainly not claimed. It goes back as
			// never tried — never as claimed and unsent, which would undo
			// a claim another attempt of this job may make meanwhile.
			b.rec.keep(cw)
			b.pending = slices.Concat(chunk, attempts(order.rest()))
			return err
		}
		if err != nil {
			// The claim may have committed or not: the chunk is recorded
			// as never sent, which puts back a claim that did.
			b.pending = slices.Concat(done, unsent(chunk), attempts(order.rest()))
			return err
		}
		b.rec.keep(cw)
		done = chunk
		if w.sendChunk(ctx, sess, chunk, pace) {
			break
		}
	}
	// Whatever was not handed out (connection gone, time up, stopping)
	// stays scheduled for a later job.
	b.pending = append(done, attempts(order.rest())...)
	cw := b.rec.prepare(b.pending)
	b.rec.keep(cw)
	b.final = &cw
	if err := b.rec.write(ctx, lock, cw); err != nil {
		return err
	}
	return b.rec.finish(ctx, lock)
}

// stopping reports whether the process is stopping gracefully.
func (w *SendWorker) stopping() bool { return closed(w.cfg.Stopping) }

// closed reports whether a stop channel is closed; a nil one never is.
func closed(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// claim marks a chunk of ready deliveries 'sending' in tx, so they are
// recorded as handed over before the SMTP conversation. It marks the chunk
// tried and each delivery it claimed (one changed meanwhile is left out).
func (w *SendWorker) claim(ctx context.Context, tx *postgres.Tx, job *river.Job[SendArgs], chunk []attempt) error {
	marked, err := tx.Claim(ctx, chunkIDs(chunk), job.ID, w.cfg.Mail.Installation, w.domain())
	if err != nil {
		return err
	}
	markClaimed(chunk, marked)
	return nil
}

// recordAndClaim records outs and claims chunk in one commit, as claim
// marks the chunk.
func (w *SendWorker) recordAndClaim(ctx context.Context, job *river.Job[SendArgs], outs []postgres.Outcome, chunk []attempt) error {
	marked, err := w.store.RecordAndClaim(ctx, outs, chunkIDs(chunk), job.ID, w.cfg.Mail.Installation, w.domain())
	if err != nil {
		return err
	}
	markClaimed(chunk, marked)
	return nil
}

func chunkIDs(chunk []attempt) []int64 {
	ids := make([]int64, len(chunk))
	for i := range chunk {
		ids[i] = chunk[i].item.ID
	}
	return ids
}

// markClaimed marks the chunk tried and each delivery that was claimed
// (one changed meanwhile is left out).
func markClaimed(chunk []attempt, marked []int64) {
	got := make(map[int64]bool, len(marked))
	for _, id := range marked {
		got[id] = true
	}
	for i := range chunk {
		chunk[i].tried = true
		chunk[i].claimed = got[chunk[i].item.ID]
	}
}

// attempt is one ready delivery after the batch: whether it was claimed and
// what the server said.
type attempt struct {
	outgoing
	tried   bool // its chunk was claimed (whether or not it got it)
	claimed bool
	result  mailer.Result
}

// notSent is an attempt's result until the server answers.
var notSent = mailer.Result{Outcome: mailer.TempFail, Unsent: true, Detail: "not sent"}

// attempts wraps ready deliveries, each "not sent" until the server answers.
func attempts(ready []outgoing) []attempt {
	out := make([]attempt, len(ready))
	for i, o := range ready {
		out[i] = attempt{outgoing: o, result: notSent}
	}
	return out
}

// unsent is a chunk whose claim may have committed and whose messages were
// not sent: each counts as claimed and never handed over, so recording it
// puts a committed claim back (without using up an attempt) and leaves an
// uncommitted one as it was.
func unsent(chunk []attempt) []attempt {
	out := make([]attempt, len(chunk))
	for i, a := range chunk {
		a.tried, a.claimed, a.result = true, true, notSent
		out[i] = a
	}
	return out
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

// renderLate reports whether a render started now, running to its
// timeout, would leave the job less than half of stopMargin to record
// what it sent. A claimed chunk is otherwise sent whole (late is checked
// before claiming); only slow templates, up to their timeout each, could
// make it run into the job's deadline.
func (w *SendWorker) renderLate(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Now().Add(w.cfg.Mail.Renderer.Limits().Timeout).After(dl.Add(-stopMargin/2))
}

// sendChunk sends what a chunk claimed. It reports whether the connection
// is gone, leaving the rest of the chunk unsent.
func (w *SendWorker) sendChunk(ctx context.Context, sess mailer.Session, chunk []attempt, pace *pacer) bool {
	for i := range chunk {
		a := &chunk[i]
		if !a.claimed {
			continue
		}
		if a.envelope == nil {
			if w.renderLate(ctx) {
				// Slow templates (each render may take up to its
				// timeout) used up the job's time: the rest go back
				// unsent, to a later job, rather than run into the
				// timeout with claims unrecorded.
				return true
			}
			env, parts, err := w.envelope(ctx, *a.camp, *a.contact, a.item)
			if err != nil && ctx.Err() != nil {
				return true // the job's own end, not the template's fault: unsent
			}
			if err != nil {
				// The template failed or ran over its bounds for this
				// contact: a fault of ours, not of the address (failed
				// with failed_local, never a bounce), and nothing went.
				a.result = mailer.Result{Outcome: mailer.LocalFail, Err: err, Detail: templateRule(err)}
				continue
			}
			a.envelope, a.parts = env, parts
		}
		if pace.wait(ctx, a.item.ID) != nil {
			return true // stopping: the rest of the chunk goes back unsent
		}
		start := time.Now()
		a.result = sess.Send(context.WithoutCancel(ctx), a.envelope)
		// Handed over (or not, for good: this job never sends it again):
		// the message goes now, not at the batch's end.
		a.envelope = nil
		a.parts.Release()
		w.cfg.Metrics.SendLatency(time.Since(start))
		if a.result.Outcome != mailer.Accepted {
			w.cfg.Metrics.SMTPError(a.result.Outcome.String())
		}
		if a.result.Unsent {
			return true // the session already tried a fresh connection
		}
	}
	return false
}

func (w *SendWorker) domain() string { return outreach.EmailDomain(w.cfg.Mail.From.Address) }

// jobRNG is a job's source of randomness (retry backoff, re-planning
// jitter), seeded from the job and the clock so a run can be replayed.
func (w *SendWorker) jobRNG(job *river.Job[SendArgs]) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(job.ID), uint64(w.cfg.Clock.Now().UnixNano())))
}
