package jobs

import (
	"context"
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
	slots, wait, err := w.reserve(ctx, rows, now)
	if err != nil {
		return err
	}
	if slots == nil && wait > 0 {
		// Throttled: the job waits its turn in the queue, holding no
		// worker and no lock; the messages are delayed, never dropped.
		return river.JobSnooze(wait)
	}
	return pgx.BeginFunc(ctx, pool, func(lock pgx.Tx) error {
		if len(contactIDs) > 0 {
			contacts, err := dbsqlc.New(lock).LockContacts(ctx, contactIDs)
			if err != nil {
				return err
			}
			claimed, err := w.claim(ctx, job, contacts, slots)
			if err != nil {
				return err
			}
			results := w.deliver(ctx, claimed, slots)
			if err := w.record(ctx, lock, claimed, results); err != nil {
				return err
			}
		}
		_, err := river.JobCompleteTx[*riverDriver](ctx, lock, job)
		return err
	})
}

// outgoing is a claimed delivery and its message.
type outgoing struct {
	row      dbsqlc.SendLoadRow
	contact  outreach.Contact
	envelope *mailer.Envelope
}

// claim re-checks the job's due deliveries for the locked contacts and marks
// the ones that may go 'sending', in its own committed transaction.
func (w *SendWorker) claim(ctx context.Context, job *river.Job[SendArgs], locked []dbsqlc.Contact, slots map[int64]time.Time) ([]outgoing, error) {
	var out []outgoing
	err := pgx.BeginFunc(ctx, w.d.Store.Pool(), func(tx pgx.Tx) error {
		out = nil
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
		var ok []outgoing
		var replans []due
		for _, r := range rows {
			if r.State != string(outreach.DeliveryScheduled) || r.PlannedFor.After(now.Add(dueSlack)) {
				continue // handled elsewhere, or re-planned to a later job
			}
			if slot, ok := slots[r.ID]; ok && slot.Sub(now) > maxPace {
				// Its domain's turn is far off: let a later job send it
				// then rather than hold this batch's locks until it comes.
				replans = append(replans, due{id: r.ID, at: slot})
				continue
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
				ok = append(ok, *o)
			}
		}
		if err := EnqueueSends(ctx, tx, replans, now, w.d.SendBatch); err != nil {
			return err
		}
		if len(ok) == 0 {
			return nil
		}
		ids := make([]int64, len(ok))
		for i, o := range ok {
			ids[i] = o.row.ID
		}
		marked, err := q.MarkSending(ctx, dbsqlc.MarkSendingParams{Ids: ids, JobID: &job.ID, Domain: w.domain(), Now: now})
		if err != nil {
			return err
		}
		got := make(map[int64]bool, len(marked))
		for _, id := range marked {
			got[id] = true
		}
		for _, o := range ok {
			if got[o.row.ID] {
				out = append(out, o)
			}
		}
		return nil
	})
	return out, err
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
		planner:     &planner.Planner{Tiers: map[string]outreach.Tier{}, DefaultZone: w.d.DefaultZone, Spread: w.d.Jitter},
		campaigns:   map[int64]outreach.Campaign{},
		contacts:    map[int64]outreach.Contact{},
		suppression: map[int64]outreach.SuppressionReason{},
		sent:        map[int64][]cadence.Event{},
		window:      longest(tiers),
	}
	for _, t := range tiers {
		c.planner.Tiers[t.Key] = t
	}
	ids := make([]int64, len(locked))
	hashes := make([][]byte, len(locked))
	byHash := map[string]int64{}
	for i, row := range locked {
		ids[i] = row.ID
		hashes[i] = EmailHash(row.Email)
		byHash[string(hashes[i])] = row.ID
		c.contacts[row.ID] = postgres.ContactFromRow(row)
	}
	sups, err := q.SuppressedHashes(ctx, hashes)
	if err != nil {
		return nil, err
	}
	for _, s := range sups {
		c.suppression[byHash[string(s.EmailHash)]] = outreach.SuppressionReason(s.Reason)
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
		return nil, nil, q.MarkTerminal(ctx, dbsqlc.MarkTerminalParams{ID: r.ID, State: string(state), Reason: string(reason), Rule: rule, Now: now})
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
// skips it as expired.
func (w *SendWorker) replan(ctx context.Context, q *dbsqlc.Queries, c *check, r dbsqlc.SendLoadRow, camp outreach.Campaign, contact outreach.Contact, now time.Time) (*outgoing, *due, error) {
	hist, err := q.ContactCapHistory(ctx, dbsqlc.ContactCapHistoryParams{ContactID: contact.ID, ExceptID: r.ID, Since: now.Add(-c.window)})
	if err != nil {
		return nil, nil, err
	}
	events := make([]cadence.Event, 0, len(hist)+len(c.sent[contact.ID]))
	for _, h := range hist {
		events = append(events, cadence.Event{ID: h.ID, At: h.At, Priority: int(h.Priority), Reserved: h.State == "scheduled"})
	}
	events = append(events, c.sent[contact.ID]...) // claimed by this batch, not yet in the table as sending
	tier, _ := c.planner.EffectiveTier(contact)
	req := cadence.Request{Rule: tier.Rule, Location: c.planner.Zone(contact), History: events, Now: now, Priority: camp.Priority}
	if r.ExpiresAt != nil {
		req.ExpiresAt = *r.ExpiresAt
	}
	rng := rand.New(rand.NewPCG(uint64(r.ID), uint64(now.UnixNano())))
	d := cadence.Decide(req, rng, c.planner.Spread)
	if d.Reason == outreach.ReasonExpired {
		return nil, nil, q.MarkTerminal(ctx, dbsqlc.MarkTerminalParams{ID: r.ID, State: string(outreach.DeliverySkipped), Reason: string(outreach.ReasonExpired), Rule: d.Rule, Now: now})
	}
	if err := q.DeliveryReplan(ctx, dbsqlc.DeliveryReplanParams{ID: r.ID, PlannedFor: d.At, Reason: string(d.Reason), Rule: d.Rule, Now: now}); err != nil {
		return nil, nil, err
	}
	return nil, &due{id: r.ID, at: d.At}, nil
}

// maxThrottleWait is the longest a send job sleeps for its first throttle
// slot; beyond it the job is snoozed instead. maxPace is the furthest slot a
// batch keeps; messages whose slot is later go to a later job.
const (
	maxThrottleWait = 5 * time.Second
	maxPace         = 30 * time.Second
)

// reserve takes throttle slots for the batch's due deliveries, one per
// message, and waits until the first. With no slot within maxThrottleWait it
// reserves nothing and returns the wait.
func (w *SendWorker) reserve(ctx context.Context, rows []dbsqlc.SendLoadRow, now time.Time) (map[int64]time.Time, time.Duration, error) {
	if w.d.Throttle == nil {
		return nil, 0, nil
	}
	var ids []int64
	var domains []string
	for _, r := range rows {
		if r.State == string(outreach.DeliveryScheduled) && !r.PlannedFor.After(now.Add(dueSlack)) {
			ids = append(ids, r.ID)
			domains = append(domains, outreach.EmailDomain(r.Email))
		}
	}
	if len(ids) == 0 {
		return nil, 0, nil
	}
	got, wait, err := w.d.Throttle.ReserveWithin(ctx, now, domains, maxThrottleWait)
	if err != nil || got == nil {
		w.metric(func(m Metrics) { m.ThrottleWait(wait) })
		return nil, wait, err
	}
	slots := make(map[int64]time.Time, len(ids))
	for i, id := range ids {
		slots[id] = got[i]
	}
	if wait > 0 {
		w.metric(func(m Metrics) { m.ThrottleWait(wait) })
		if err := sleep(ctx, wait); err != nil {
			return nil, 0, err
		}
	}
	return slots, 0, nil
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

// deliver sends the claimed messages over one pooled connection, each at
// its throttle slot. It does not stop for a cancelled context: a message
// handed over must be recorded.
func (w *SendWorker) deliver(ctx context.Context, claimed []outgoing, slots map[int64]time.Time) []mailer.Result {
	results := make([]mailer.Result, len(claimed))
	if len(claimed) == 0 {
		return results
	}
	sess, err := w.d.Transport.Session(ctx)
	if err != nil {
		for i := range results {
			results[i] = mailer.Result{Outcome: mailer.TempFail, Err: err, Detail: err.Error()}
		}
		return results
	}
	defer sess.Close()
	for i, o := range claimed {
		if slot, ok := slots[o.row.ID]; ok {
			if d := time.Until(slot); d > 0 {
				time.Sleep(d)
			}
		}
		start := time.Now()
		results[i] = sess.Send(context.WithoutCancel(ctx), o.envelope)
		w.metric(func(m Metrics) {
			m.SendLatency(time.Since(start))
			if results[i].Outcome != mailer.Accepted {
				m.SMTPError(results[i].Outcome.String())
			}
		})
	}
	return results
}

// record writes every outcome in the lock transaction.
func (w *SendWorker) record(ctx context.Context, tx pgx.Tx, claimed []outgoing, results []mailer.Result) error {
	q := dbsqlc.New(tx)
	now := w.d.Clock.Now()
	var sent, touched []int64
	var retries []due
	for i, o := range claimed {
		res := results[i]
		switch res.Outcome {
		case mailer.Accepted:
			sent = append(sent, o.row.ID)
			if o.row.Marketing {
				touched = append(touched, o.contact.ID)
			}
		case mailer.Uncertain:
			if err := q.MarkTerminal(ctx, dbsqlc.MarkTerminalParams{ID: o.row.ID, State: string(outreach.DeliveryUnknown), Reason: string(outreach.ReasonUnknown), Rule: trim(res.Detail), Now: now}); err != nil {
				return err
			}
		case mailer.PermFail:
			if err := w.bounce(ctx, q, o, res, now); err != nil {
				return err
			}
		case mailer.TempFail:
			if int(o.row.Attempts)+1 >= maxAttempts {
				if err := q.MarkTerminal(ctx, dbsqlc.MarkTerminalParams{ID: o.row.ID, State: string(outreach.DeliveryFailed), Reason: string(outreach.ReasonFailedPermanent), Rule: "retries exhausted: " + trim(res.Detail), Now: now}); err != nil {
					return err
				}
				continue
			}
			at := now.Add(backoff(int(o.row.Attempts) + 1))
			if err := q.MarkRetry(ctx, dbsqlc.MarkRetryParams{ID: o.row.ID, PlannedFor: at, Now: now}); err != nil {
				return err
			}
			retries = append(retries, due{id: o.row.ID, at: at})
		}
	}
	if len(sent) > 0 {
		if err := q.MarkSent(ctx, dbsqlc.MarkSentParams{Ids: sent, Now: now}); err != nil {
			return err
		}
		w.metric(func(m Metrics) { m.Delivery(string(outreach.DeliverySent), string(outreach.ReasonSent), len(sent)) })
	}
	w.slowDown(ctx, claimed, results, now)
	if len(touched) > 0 {
		if err := q.TouchLastSent(ctx, dbsqlc.TouchLastSentParams{Ids: touched, Now: now}); err != nil {
			return err
		}
	}
	return EnqueueSends(ctx, tx, retries, now, w.d.SendBatch)
}

// slowDown backs off each domain that answered "slow down", once per batch.
func (w *SendWorker) slowDown(ctx context.Context, claimed []outgoing, results []mailer.Result, now time.Time) {
	if w.d.Throttle == nil {
		return
	}
	done := map[string]bool{}
	for i, o := range claimed {
		d := outreach.EmailDomain(o.contact.Email)
		if results[i].SlowDown() && !done[d] {
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
// address, so it is never tried again.
func (w *SendWorker) bounce(ctx context.Context, q *dbsqlc.Queries, o outgoing, res mailer.Result, now time.Time) error {
	if err := q.MarkTerminal(ctx, dbsqlc.MarkTerminalParams{ID: o.row.ID, State: string(outreach.DeliveryFailed), Reason: string(outreach.ReasonFailedPermanent), Rule: trim(res.Detail), Now: now}); err != nil {
		return err
	}
	email := o.contact.Email
	if err := q.SuppressionUpsert(ctx, dbsqlc.SuppressionUpsertParams{EmailHash: EmailHash(email), Email: &email, Reason: string(outreach.SuppressBounce), Now: now}); err != nil {
		return err
	}
	return q.ContactSetStatus(ctx, dbsqlc.ContactSetStatusParams{ID: o.contact.ID, Status: string(outreach.StatusBounced), Now: now})
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
