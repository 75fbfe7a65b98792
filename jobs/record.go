// Recording a send batch's outcomes: sent, retried with backoff, failed and
// suppressed, or unknown, as sendcheck.Next decides.

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

// recording records one batch's outcomes, chunk by chunk. The contact rows a
// batch changes (last_sent_at, a bounce's suppression and status) are held
// locked by its lock transaction, so only that transaction can write them:
// the chunks' commits collect them here for finish.
type recording struct {
	w       *SendWorker
	rng     *rand.Rand
	touched []int64
	bounced []attempt
}

func (w *SendWorker) newRecording(job *river.Job[SendArgs]) *recording {
	return &recording{w: w, rng: w.jobRNG(job)}
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
	}
	return sendcheck.Reply{Class: c, Unsent: r.Unsent, Code: r.Code, Detail: r.Detail}
}

// record writes a chunk's outcomes in tx, in one statement, and enqueues
// the deliveries that go back to scheduled.
func (r *recording) record(ctx context.Context, tx *postgres.Tx, all []attempt) error {
	w := r.w
	now := w.cfg.Clock.Now()
	var outs []postgres.Outcome
	var retries []due
	for _, a := range all {
		switch {
		case !a.tried:
			// Never claimed (the connection was gone first, or the job's
			// time ran out): still scheduled; a later job sends it.
			retries = append(retries, due{id: a.item.ID, at: now.Add(sendcheck.UnsentWait)})
			continue
		case !a.claimed:
			continue // changed by someone else between the check and the claim
		}
		step, _ := sendcheck.Next(outreach.DeliverySending, reply(a.result), a.item.Attempts+1, a.item.PlannedFor, now, r.rng)
		outs = append(outs, postgres.Outcome{ID: a.item.ID, State: step.State, Reason: step.Reason, Rule: step.Rule,
			At: step.At, Refund: step.Refund, Code: step.Code})
		switch {
		case step.State == outreach.DeliveryScheduled:
			retries = append(retries, due{id: a.item.ID, at: step.At})
		case step.State == outreach.DeliverySent && a.item.Marketing:
			r.touched = append(r.touched, a.contact.ID)
		}
		if step.Suppress {
			r.bounced = append(r.bounced, a)
		}
		if step.State.Terminal() {
			w.cfg.Metrics.Delivery(string(step.State), string(step.Reason), 1)
		}
	}
	if err := tx.RecordOutcomes(ctx, outs); err != nil {
		return err
	}
	r.slowDown(ctx, all, now)
	return enqueueSends(ctx, tx, retries, now, w.cfg.SendBatch)
}

// finish writes the collected contact changes in the lock transaction:
// last_sent_at, and each bounce through the one suppression path
// (suppression, status, timeline event and audit entry together).
func (r *recording) finish(ctx context.Context, lock *postgres.Tx) error {
	if err := lock.TouchLastSent(ctx, r.touched); err != nil {
		return err
	}
	for _, a := range r.bounced {
		detail := map[string]any{"delivery_id": a.item.ID, "campaign_id": a.item.CampaignID, "smtp_code": a.result.Code}
		if _, err := lock.Suppress(ctx, bounceActor, a.contact.Email, outreach.SuppressBounce, detail); err != nil {
			return err
		}
	}
	return nil
}

// slowDown backs each domain that answered "slow down" off, once per chunk.
func (r *recording) slowDown(ctx context.Context, all []attempt, now time.Time) {
	w := r.w
	if w.cfg.Throttle == nil {
		return
	}
	done := map[string]bool{}
	for _, a := range all {
		d := outreach.EmailDomain(a.contact.Email)
		if a.claimed && a.result.SlowDown() && !done[d] {
			done[d] = true
			if rate, err := w.cfg.Throttle.SlowDown(ctx, now, d); err != nil {
				w.cfg.Log.Warn("throttle back-off failed", "domain", d, "error", err.Error())
			} else {
				w.cfg.Log.Info("domain asked us to slow down", "domain", d, "rate_per_second", rate)
			}
		}
	}
}
