package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
)

// PlanArgs plans one contact-id range (Lo, Hi] of a campaign run. A run is
// split into ranges planned in parallel, by separate jobs.
type PlanArgs struct {
	RunID int64 `json:"run_id"`
	Lo    int64 `json:"lo"`
	Hi    int64 `json:"hi"`
}

// Kind names the job.
func (PlanArgs) Kind() string { return "plan_run" }

// InsertOpts puts planning on its own queue; one plan job per run.
func (PlanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePlan, MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// PlanWorker fans a run out over its audience, batch by batch. Each batch is
// one transaction: lock the contacts, read their history, decide, COPY the
// deliveries and insert their send jobs. An interrupted job resumes after the
// last contact planned, so retries never plan anyone twice (and (run,
// contact) is unique besides).
type PlanWorker struct {
	river.WorkerDefaults[PlanArgs]
	d *Deps
}

// Timeout bounds one go at a range; a timed-out job resumes after the last
// contact it planned.
func (w *PlanWorker) Timeout(*river.Job[PlanArgs]) time.Duration {
	if w.d.PlanTimeout > 0 {
		return w.d.PlanTimeout
	}
	return 10 * time.Minute
}

// Work plans the run.
func (w *PlanWorker) Work(ctx context.Context, job *river.Job[PlanArgs]) error {
	s := w.d.Store
	q := dbsqlc.New(s.Pool())
	run, err := q.RunGet(ctx, job.Args.RunID)
	if err != nil {
		return fmt.Errorf("plan run %d: %w", job.Args.RunID, err)
	}
	if run.Status != "planning" {
		return nil
	}
	crow, err := q.CampaignGet(ctx, run.CampaignID)
	if err != nil {
		return fmt.Errorf("plan run %d: %w", run.ID, err)
	}
	camp := postgres.CampaignFromRow(crow)
	if camp.Status == outreach.CampaignCanceled {
		return nil
	}
	tiers, err := s.Tiers(ctx)
	if err != nil {
		return err
	}
	p := w.d.planner(tiers)
	r := planner.Run{Campaign: camp, ID: run.ID, FireAt: run.FireAt}
	if run.ExpiresAt != nil {
		r.ExpiresAt = *run.ExpiresAt
	}
	after, err := q.RunLastContact(ctx, dbsqlc.RunLastContactParams{RunID: run.ID, Lo: job.Args.Lo, Hi: job.Args.Hi})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(run.ID), uint64(job.Attempt)))
	since := longest(tiers)
	for {
		var done, paused bool
		err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
			status, err := dbsqlc.New(tx).CampaignStatusShare(ctx, camp.ID)
			if err != nil {
				return err
			}
			switch outreach.CampaignStatus(status) {
			case outreach.CampaignPaused:
				paused = true
				return nil
			case outreach.CampaignCanceled:
				done = true
				_, err := river.JobCompleteTx[*riverDriver](ctx, tx, job)
				return err
			}
			n, last, err := w.planBatch(ctx, tx, p, r, after, job.Args.Hi, since, rng)
			if err != nil {
				return err
			}
			if n == 0 {
				done = true
				now := w.d.Clock.Now()
				if _, err := dbsqlc.New(tx).RunShardDone(ctx, dbsqlc.RunShardDoneParams{ID: run.ID, Now: now}); err != nil && !errors.Is(err, pgx.ErrNoRows) {
					return err
				}
				_, err := river.JobCompleteTx[*riverDriver](ctx, tx, job)
				return err
			}
			after = last
			return nil
		})
		if err != nil {
			return fmt.Errorf("plan run %d after contact %d: %w", run.ID, after, err)
		}
		if paused {
			// Planning waits while the campaign is paused, and carries on
			// where it stopped once resumed.
			return river.JobSnooze(15 * time.Second)
		}
		if done {
			return nil
		}
	}
}

func longest(tiers []outreach.Tier) time.Duration {
	var l time.Duration
	for _, t := range tiers {
		if w := t.Rule.LongestWindow(); w > l {
			l = w
		}
	}
	return l
}

// Targets loads what the planner needs for a batch of contacts: their cap
// history and suppressions. Shared by planning and the forecast.
func Targets(ctx context.Context, q *dbsqlc.Queries, rows []dbsqlc.Contact, since time.Time) ([]planner.Target, error) {
	hist, err := q.CapHistory(ctx, dbsqlc.CapHistoryParams{LoID: rows[0].ID, HiID: rows[len(rows)-1].ID, Since: since})
	if err != nil {
		return nil, err
	}
	sups, err := suppressionsOf(ctx, q, rows)
	if err != nil {
		return nil, err
	}
	byContact := make(map[int64][]dbsqlc.CapHistoryRow, len(rows))
	for _, h := range hist {
		byContact[h.ContactID] = append(byContact[h.ContactID], h)
	}
	out := make([]planner.Target, len(rows))
	for i, row := range rows {
		t := planner.Target{Contact: postgres.ContactFromRow(row), Suppression: sups[row.ID]}
		for _, h := range byContact[row.ID] {
			reserved := h.State == string(outreach.DeliveryScheduled)
			t.History = append(t.History, cadence.Event{ID: h.ID, At: h.At, Priority: int(h.Priority), Reserved: reserved})
			if reserved {
				if t.LowerExpiry == nil {
					t.LowerExpiry = map[int64]time.Time{}
				}
				if h.ExpiresAt != nil {
					t.LowerExpiry[h.ID] = *h.ExpiresAt
				} else {
					t.LowerExpiry[h.ID] = time.Time{}
				}
			}
		}
		out[i] = t
	}
	return out, nil
}

// suppressionsOf looks up the contacts' addresses in the suppressions, in
// one query, by contact id.
func suppressionsOf(ctx context.Context, q *dbsqlc.Queries, rows []dbsqlc.Contact) (map[int64]outreach.SuppressionReason, error) {
	hashes := make([][]byte, len(rows))
	byHash := make(map[string]int64, len(rows))
	for i, row := range rows {
		hashes[i] = postgres.EmailHash(row.Email)
		byHash[string(hashes[i])] = row.ID
	}
	found, err := q.SuppressedHashes(ctx, hashes)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]outreach.SuppressionReason, len(found))
	for _, s := range found {
		out[byHash[string(s.EmailHash)]] = outreach.SuppressionReason(s.Reason)
	}
	return out, nil
}

// due is a delivery that needs a send job at a time.
type due struct {
	id int64
	at time.Time
}

func (w *PlanWorker) planBatch(ctx context.Context, tx pgx.Tx, p *planner.Planner, r planner.Run, after, maxID int64, window time.Duration, rng *rand.Rand) (int, int64, error) {
	q := dbsqlc.New(tx)
	a := r.Campaign.Audience
	attrs, _ := json.Marshal(orEmptyMap(a.Attributes))
	batch := w.d.BatchSize
	if batch <= 0 {
		batch = 5000
	}
	rows, err := q.AudienceBatch(ctx, dbsqlc.AudienceBatchParams{
		AfterID: after, MaxID: maxID, Tiers: orEmptySlice(a.Tiers), Topics: orEmptySlice(a.Topics), Attrs: attrs,
		Ids: orEmptyIDs(a.ContactIDs), Lim: int32(batch),
	})
	if err != nil || len(rows) == 0 {
		return 0, after, err
	}
	now := w.d.Clock.Now()
	targets, err := Targets(ctx, q, rows, now.Add(-window))
	if err != nil {
		return 0, 0, err
	}
	ids, err := q.DeliveryIDs(ctx, int32(len(rows)))
	if err != nil {
		return 0, 0, err
	}
	var expires *time.Time
	if !r.ExpiresAt.IsZero() {
		expires = &r.ExpiresAt
	}
	marketing := r.Campaign.Category == outreach.Marketing
	params := make([]dbsqlc.DeliveriesCopyParams, len(rows))
	var sends []due
	// Displaced lower-priority deliveries are moved or skipped in one
	// statement each per batch, not one round trip per delivery.
	moved := dbsqlc.DeliveriesReplanManyParams{Now: now}
	skip := dbsqlc.DeliveriesSkipManyParams{Now: now, Reason: string(outreach.ReasonPreempted)}
	for i, t := range targets {
		o := p.Plan(r, t, now, rng)
		planned := o.PlannedFor
		if planned.IsZero() {
			planned = now
		}
		params[i] = dbsqlc.DeliveriesCopyParams{
			ID: ids[i], RunID: r.ID, CampaignID: r.Campaign.ID, ContactID: t.Contact.ID, Marketing: marketing,
			Priority: int32(r.Campaign.Priority), Tier: o.Tier, State: string(o.State), Reason: string(o.Reason),
			Rule: o.Rule, PlannedFor: planned, ExpiresAt: expires, CreatedAt: now, UpdatedAt: now,
		}
		if o.State == outreach.DeliveryScheduled {
			sends = append(sends, due{id: ids[i], at: planned})
		}
		for _, dp := range o.Displaced {
			if dp.Expired {
				skip.Ids, skip.Rules = append(skip.Ids, dp.ID), append(skip.Rules, dp.Rule)
				continue
			}
			moved.Ids, moved.Planned = append(moved.Ids, dp.ID), append(moved.Planned, dp.At)
			moved.Reasons, moved.Rules = append(moved.Reasons, string(dp.Reason)), append(moved.Rules, dp.Rule)
			sends = append(sends, due{id: dp.ID, at: dp.At})
		}
	}
	if len(moved.Ids) > 0 {
		if err := q.DeliveriesReplanMany(ctx, moved); err != nil {
			return 0, 0, err
		}
	}
	if len(skip.Ids) > 0 {
		if err := q.DeliveriesSkipMany(ctx, skip); err != nil {
			return 0, 0, err
		}
	}
	if _, err := q.DeliveriesCopy(ctx, params); err != nil {
		return 0, 0, err
	}
	if err := EnqueueSends(ctx, tx, sends, now, w.d.SendBatch); err != nil {
		return 0, 0, err
	}
	return len(rows), rows[len(rows)-1].ID, nil
}

// Deferred deliveries whose moments are close share one send job, run at the
// latest moment of the group, so a job never sends anything early and
// deferred mail still goes out in batches of up to 100 rather than one job
// per message. A message may leave up to a bucket after its jittered moment,
// which only ever loosens the cadence; moments more than an hour away use
// the wider bucket.
const (
	sendBucket    = time.Minute
	farSendBucket = 5 * time.Minute
)

// EnqueueSends inserts send jobs for deliveries, in the caller's transaction.
func EnqueueSends(ctx context.Context, tx pgx.Tx, sends []due, now time.Time, size int) error {
	if len(sends) == 0 {
		return nil
	}
	if size <= 0 {
		size = 100
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	sort.Slice(sends, func(i, j int) bool { return sends[i].at.Before(sends[j].at) })
	var params []river.InsertManyParams
	flush := func(group []due) {
		args := SendArgs{DeliveryIDs: make([]int64, len(group))}
		latest := group[0].at
		for i, g := range group {
			args.DeliveryIDs[i] = g.id
			if g.at.After(latest) {
				latest = g.at
			}
		}
		opts := &river.InsertOpts{}
		if latest.After(now) {
			opts.ScheduledAt = latest
		}
		params = append(params, river.InsertManyParams{Args: args, InsertOpts: opts})
	}
	start := 0
	bucket := func(t time.Time) time.Time {
		switch {
		case !t.After(now):
			return time.Time{}
		case t.Sub(now) > time.Hour:
			return t.Truncate(farSendBucket)
		}
		return t.Truncate(sendBucket)
	}
	for i := 1; i <= len(sends); i++ {
		if i == len(sends) || i-start == size || !bucket(sends[i].at).Equal(bucket(sends[start].at)) {
			flush(sends[start:i])
			start = i
		}
	}
	_, err = client.InsertManyFastTx(ctx, tx, params)
	return err
}

func orEmptySlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orEmptyIDs(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
