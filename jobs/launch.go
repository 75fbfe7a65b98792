package jobs

import (
	"context"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
)

// Launcher starts campaign runs: the run row, the campaign's status, the
// audit entry and the planning job are written in one transaction, so a run
// is either fully started or not at all.
type Launcher struct {
	Store  *postgres.Store
	Client *Client
	Clock  outreach.Clock
	Deps   *Deps // planner settings for forecasts
}

// SendNow starts a run of the campaign at this moment.
func (l *Launcher) SendNow(ctx context.Context, actor string, id int64) (outreach.Campaign, int64, error) {
	c, run, _, err := l.SendNowIdem(ctx, actor, id, nil)
	return c, run, err
}

// SendNowIdem is SendNow under an Idempotency-Key: the key is recorded in
// the same transaction as the run, so a retried request never starts a
// second run (replayed true, with the first run's id).
func (l *Launcher) SendNowIdem(ctx context.Context, actor string, id int64, idem *postgres.Idem) (outreach.Campaign, int64, bool, error) {
	var out outreach.Campaign
	var runID int64
	var replayed bool
	err := l.Store.InTx(ctx, func(tx pgx.Tx) error {
		q := dbsqlc.New(tx)
		prev, err := postgres.ClaimIdempotency(ctx, tx, l.Clock.Now(), idem)
		if err != nil {
			return err
		}
		if prev != nil {
			row, err := q.CampaignGet(ctx, prev.ResourceID)
			out, replayed = postgres.CampaignFromRow(row), true
			if prev.RunID != nil {
				runID = *prev.RunID
			}
			return err
		}
		row, err := q.CampaignGetForUpdate(ctx, id)
		if err != nil {
			return err
		}
		c := postgres.CampaignFromRow(row)
		switch c.Status {
		case outreach.CampaignDraft, outreach.CampaignScheduled, outreach.CampaignRunning, outreach.CampaignCompleted:
		default:
			return outreach.Errorf(outreach.ECONFLICT, "campaign %d is %s; only a draft, scheduled, running or completed campaign can be sent", id, c.Status)
		}
		now := l.Clock.Now()
		runID, err = l.startRun(ctx, tx, c, now)
		if err != nil {
			return err
		}
		row, err = q.CampaignSetStatus(ctx, dbsqlc.CampaignSetStatusParams{ID: id, Status: string(outreach.CampaignRunning), Now: now})
		if err != nil {
			return err
		}
		out = postgres.CampaignFromRow(row)
		if err := postgres.SetIdempotencyResult(ctx, tx, idem, id, &runID); err != nil {
			return err
		}
		return postgres.Audit(ctx, tx, now, actor, "send", "campaign", id, map[string]any{"status": c.Status}, map[string]any{"status": out.Status, "run_id": runID})
	})
	return out, runID, replayed, postgresError("send campaign", err)
}

// PlanShards is how many contact-id ranges a run's planning is split into
// (one plan job each, worked in parallel); small audiences use one.
var PlanShards = 2

// minShard is the least id span worth a planning job of its own.
const minShard = 20000

// startRun creates a run firing at fireAt and enqueues its planning, in tx.
func (l *Launcher) startRun(ctx context.Context, tx pgx.Tx, c outreach.Campaign, fireAt time.Time) (int64, error) {
	var expires *time.Time
	if c.ExpiresAfter > 0 {
		e := fireAt.Add(c.ExpiresAfter)
		expires = &e
	}
	q := dbsqlc.New(tx)
	span, err := q.ContactIDRange(ctx)
	if err != nil {
		return 0, err
	}
	bounds := Shards(span.Lo-1, span.Hi, PlanShards, minShard)
	run, err := q.RunInsert(ctx, dbsqlc.RunInsertParams{CampaignID: c.ID, FireAt: fireAt, ExpiresAt: expires,
		Shards: int32(len(bounds) - 1), Now: l.Clock.Now()})
	if err != nil {
		return 0, err
	}
	for i := 1; i < len(bounds); i++ {
		hi := bounds[i]
		if i == len(bounds)-1 {
			hi = math.MaxInt64 // contacts added while planning join the last range
		}
		if _, err := l.Client.InsertTx(ctx, tx, PlanArgs{RunID: run.ID, Lo: bounds[i-1], Hi: hi}, nil); err != nil {
			return 0, err
		}
	}
	return run.ID, nil
}

// Shards splits the id span (lo, hi] into at most n ranges of at least min
// ids, returning the n+1 bounds.
func Shards(lo, hi int64, n int, min int64) []int64 {
	if n < 1 {
		n = 1
	}
	for n > 1 && (hi-lo)/int64(n) < min {
		n--
	}
	out := []int64{lo}
	for i := 1; i < n; i++ {
		out = append(out, lo+(hi-lo)*int64(i)/int64(n))
	}
	return append(out, hi)
}

func postgresError(op string, err error) error { return postgres.MapError(op, err) }
