// Recording a send batch's outcomes: sent, retried with backoff, failed and
// suppressed, or unknown, as sendcheck.Next decides; and keeping them
// through a database outage.

package jobs

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"

	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/sendcheck"
)

// bounceActor names the send path in the suppressions it makes.
const bounceActor = "smtp"

// batch is one run of a send job.
type batch struct {
	job *river.Job[SendArgs]
	rec *recording
	// pending are the attempts handed over (or claimed) and not yet
	// committed: kept so that a database outage loses none of them.
	pending []attempt
	// final is pending as prepared for the lock transaction's commit.
	final *chunkWrite
}

func (w *SendWorker) newBatch(job *river.Job[SendArgs]) *batch {
	return &batch{job: job, rec: &recording{w: w, rng: w.jobRNG(job)}}
}

// recording records one batch's outcomes, chunk by chunk. The contact rows a
// batch changes (a bounce's suppression and status) are held locked by its
// lock transaction, so only that transaction can write them: the chunks'
// commits collect them here for finish, with the contacts mailed (their
// last_sent_at, beside the contact), written in the same commit.
type recording struct {
	w       *SendWorker
	rng     *rand.Rand
	touched []int64
	bounced []attempt
}

// reply is what the mailer's result means to the send rules.
func reply(r mailer.Result) sendcheck.Reply {
	c := sendcheck.TempFail
	switch r.Outcome {
	case mailer.Accepted:
		c = sendcheck.Accepted
	case mailer.PermFail:
		c = sendcheck.PermFail
	case mailer.Uncertain:
		c = sendcheck.Uncertain
	case mailer.LocalFail:
		c = sendcheck.LocalFail
	}
	return sendcheck.Reply{Class: c, Unsent: r.Unsent, Code: r.Code, Detail: r.Detail}
}

// chunkWrite is what recording a chunk writes, decided once.
type chunkWrite struct {
	outs    []postgres.Outcome
	retries []due
	slow    []string  // domains that asked us to slow down
	touched []int64   // contacts that received marketing mail
	bounced []attempt // addresses refused for good
}

// prepare decides the chunk's outcomes (sendcheck.Next) and its contact
// changes, writing nothing.
func (r *recording) prepare(all []attempt) chunkWrite {
	w := r.w
	now := w.cfg.Clock.Now()
	requeue := now.Add(sendcheck.UnsentWait)
	if w.stopping() {
		requeue = now // other workers take them at once
	}
	var cw chunkWrite
	slow := map[string]bool{}
	for _, a := range all {
		switch {
		case !a.tried:
			// Never claimed (the connection was gone first, the job's
			// time ran out, the process is stopping): still scheduled; a
			// later job sends it.
			cw.retries = append(cw.retries, due{id: a.item.ID, at: requeue})
			continue
		case !a.claimed:
			continue // changed by someone else between the check and the claim
		}
		step, _ := sendcheck.Next(outreach.DeliverySending, reply(a.result), a.item.Attempts+1, a.item.PlannedFor, now, r.rng)
		cw.outs = append(cw.outs, postgres.Outcome{ID: a.item.ID, ContactID: a.item.ContactID, CampaignID: a.item.CampaignID,
			State: step.State, Reason: step.Reason, Rule: step.Rule, At: step.At, Refund: step.Refund, Code: step.Code})
		switch {
		case step.State == outreach.DeliveryScheduled:
			cw.retries = append(cw.retries, due{id: a.item.ID, at: step.At})
		case step.State == outreach.DeliverySent && a.item.Marketing:
			cw.touched = append(cw.touched, a.contact.ID)
		}
		if step.Suppress {
			cw.bounced = append(cw.bounced, a)
		}
		if d := outreach.EmailDomain(a.contact.Email); a.result.SlowDown() && !slow[d] {
			slow[d] = true
			cw.slow = append(cw.slow, d)
		}
	}
	return cw
}

// write writes a prepared chunk in tx, in one statement, and enqueues the
// deliveries that go back to scheduled. Writing it again changes nothing:
// only deliveries still 'sending' are updated.
func (r *recording) write(ctx context.Context, tx *postgres.Tx, cw chunkWrite) error {
	if err := tx.RecordOutcomes(ctx, cw.outs); err != nil {
		return err
	}
	now := r.w.cfg.Clock.Now()
	r.slowDown(ctx, cw.slow, now)
	return enqueueSends(ctx, tx, cw.retries, now, r.w.cfg.SendBatch)
}

// keep takes a written chunk's contact changes for finish, and counts its
// terminal outcomes, once its transaction committed (or, for the lock
// transaction, is about to).
func (r *recording) keep(cw chunkWrite) {
	r.touched = append(r.touched, cw.touched...)
	r.bounced = append(r.bounced, cw.bounced...)
	for _, o := range cw.outs {
		if o.State.Terminal() {
			r.w.cfg.Metrics.Delivery(string(o.State), string(o.Reason), 1)
		}
	}
}

// finish writes the collected contact changes: each bounce through the one
// suppression path (suppression, status, timeline event and audit entry
// together), then last_sent_at. It is idempotent. Bounces first: after an
// outage recover runs this without the batch's contact locks, and taking
// the contacts' locks before any contact_last_sent row keeps the order
// every lock transaction uses (contacts, then their last-sent rows), so
// it waits for another batch instead of deadlocking with it.
func (r *recording) finish(ctx context.Context, tx *postgres.Tx) error {
	for _, a := range r.bounced {
		detail := map[string]any{"delivery_id": a.item.ID, "campaign_id": a.item.CampaignID, "smtp_code": a.result.Code}
		if _, err := tx.Suppress(ctx, bounceActor, a.contact.Email, outreach.SuppressBounce, detail); err != nil {
			return err
		}
	}
	return tx.TouchLastSent(ctx, r.touched)
}

// slowDown backs each domain that answered "slow down" off.
func (r *recording) slowDown(ctx context.Context, domains []string, now time.Time) {
	w := r.w
	if w.cfg.Throttle == nil {
		return
	}
	for _, d := range domains {
		if rate, err := w.cfg.Throttle.SlowDown(ctx, now, d); err != nil {
			w.cfg.Log.Warn("throttle back-off failed", "domain", d, "error", err.Error())
		} else {
			w.cfg.Log.Info("domain asked us to slow down", "domain", d, "rate_per_second", rate)
		}
	}
}

// recoverFor is how long a batch keeps the outcomes it has in hand waiting
// for the database to come back.
const recoverFor = 10 * time.Minute

// recover writes what a batch handed over once the database is back (or
// at once, when it was the job's context that ended): the outcomes (sent,
// bounced, to retry) and the contact changes, in one transaction tried
// again and again with a growing pause. The job then runs again at once
// for what it has not done yet (deliveries that were waiting for their
// throttle turn, or never claimed).
func (w *SendWorker) recover(ctx context.Context, b *batch, cause error) error {
	// The job's deadline must not lose what the server said; a minute past
	// recoverFor bounds the whole, a lock waited for included.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoverFor+time.Minute)
	defer cancel()
	if b.final == nil {
		cw := b.rec.prepare(b.pending)
		b.rec.keep(cw)
		b.final = &cw
	}
	cw := *b.final
	w.cfg.Log.Warn("send batch outcomes not recorded; writing them apart",
		"job_id", b.job.ID, "outcomes", len(cw.outs), "error", cause.Error())
	deadline := time.Now().Add(recoverFor)
	for wait := 500 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := w.store.InTx(ctx, func(tx *postgres.Tx) error {
			if err := b.rec.write(ctx, tx, cw); err != nil {
				return err
			}
			return b.rec.finish(ctx, tx)
		})
		if err == nil {
			w.cfg.Log.Info("send batch outcomes recorded apart", "job_id", b.job.ID, "outcomes", len(cw.outs))
			return river.JobSnooze(time.Second)
		}
		if !postgres.Unavailable(err) || time.Now().After(deadline) {
			return err
		}
		_ = sleep(ctx, wait)
	}
}
