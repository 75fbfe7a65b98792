// Recording a send batch's outcomes: sent, retried with backoff, failed and
// suppressed, or unknown.

package jobs

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
)

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
