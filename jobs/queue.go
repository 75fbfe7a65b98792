package jobs

import (
	"context"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/rapport-dev/rapport/internal/postgres"
)

// Queue enqueues rapport's jobs in the caller's transaction (the campaign
// service's Queue). Its client only inserts: an insert-only River client,
// made before the workers, so nothing is wired in two phases.
type Queue struct {
	Client *Client
}

// PlanRun enqueues the planning of a run's contacts with ids in (lo, hi].
func (q Queue) PlanRun(ctx context.Context, tx *postgres.Tx, runID, lo, hi int64) error {
	_, err := q.Client.InsertTx(ctx, tx.RiverTx(), PlanArgs{RunID: runID, Lo: lo, Hi: hi}, nil)
	return err
}

// ReplanCampaign enqueues the re-planning of a resumed campaign.
func (q Queue) ReplanCampaign(ctx context.Context, tx *postgres.Tx, campaignID int64) error {
	_, err := q.Client.InsertTx(ctx, tx.RiverTx(), ReplanArgs{CampaignID: campaignID}, nil)
	return err
}

// due is a delivery that needs a send job at a moment.
type due struct {
	id int64
	at time.Time
}

// Deferred deliveries whose moments are close share one send job, run at the
// latest moment of the group, so a job never sends anything early and
// deferred mail still goes out in batches rather than one job per message.
// A message may leave up to a bucket after its jittered moment, which only
// ever loosens the cadence; moments more than an hour away use the wider
// bucket.
const (
	sendBucket    = time.Minute
	farSendBucket = 5 * time.Minute
)

// enqueueSends inserts send jobs of up to size deliveries for sends, in
// tx, from a worker (its River client comes with ctx).
func enqueueSends(ctx context.Context, tx *postgres.Tx, sends []due, now time.Time, size int) error {
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
	bucket := func(t time.Time) time.Time {
		switch {
		case !t.After(now):
			return time.Time{}
		case t.Sub(now) > time.Hour:
			return t.Truncate(farSendBucket)
		}
		return t.Truncate(sendBucket)
	}
	start := 0
	for i := 1; i <= len(sends); i++ {
		if i == len(sends) || i-start == size || !bucket(sends[i].at).Equal(bucket(sends[start].at)) {
			flush(sends[start:i])
			start = i
		}
	}
	_, err = client.InsertManyFastTx(ctx, tx.RiverTx(), params)
	return err
}
