package jobs

import (
	"context"
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
	var out outreach.Campaign
	var runID int64
	err := l.Store.InTx(ctx, func(tx pgx.Tx) error {
		q := dbsqlc.New(tx)
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
		return postgres.Audit(ctx, tx, now, actor, "send", "campaign", id, map[string]any{"status": c.Status}, map[string]any{"status": out.Status, "run_id": runID})
	})
	return out, runID, postgresError("send campaign", err)
}

// startRun creates a run firing at fireAt and enqueues its planning, in tx.
func (l *Launcher) startRun(ctx context.Context, tx pgx.Tx, c outreach.Campaign, fireAt time.Time) (int64, error) {
	var expires *time.Time
	if c.ExpiresAfter > 0 {
		e := fireAt.Add(c.ExpiresAfter)
		expires = &e
	}
	run, err := dbsqlc.New(tx).RunInsert(ctx, dbsqlc.RunInsertParams{CampaignID: c.ID, FireAt: fireAt, ExpiresAt: expires, Now: l.Clock.Now()})
	if err != nil {
		return 0, err
	}
	if _, err := l.Client.InsertTx(ctx, tx, PlanArgs{RunID: run.ID}, nil); err != nil {
		return 0, err
	}
	return run.ID, nil
}

func postgresError(op string, err error) error { return postgres.MapError(op, err) }
