package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
	"github.com/rapport-dev/rapport/internal/schedule"
)

// transition runs fn on the locked campaign and records the status change
// in the audit log, all in one transaction.
func (l *Launcher) transition(ctx context.Context, actor, action string, id int64, fn func(tx pgx.Tx, c outreach.Campaign, now time.Time) (outreach.Campaign, error)) (outreach.Campaign, error) {
	var out outreach.Campaign
	err := l.Store.InTx(ctx, func(tx pgx.Tx) error {
		row, err := dbsqlc.New(tx).CampaignGetForUpdate(ctx, id)
		if err != nil {
			return err
		}
		before := postgres.CampaignFromRow(row)
		now := l.Clock.Now()
		if out, err = fn(tx, before, now); err != nil {
			return err
		}
		return postgres.Audit(ctx, tx, now, actor, action, "campaign", id,
			map[string]any{"status": before.Status}, map[string]any{"status": out.Status})
	})
	return out, postgresError(action+" campaign", err)
}

func conflict(c outreach.Campaign, action string) error {
	return outreach.Errorf(outreach.ECONFLICT, "campaign %d is %s and cannot be %s", c.ID, c.Status, action)
}

// Schedule arms a draft campaign: a one-off run planned at send_at (given
// here, or the campaign's own), or, for a cron campaign, its next firing.
func (l *Launcher) Schedule(ctx context.Context, actor string, id int64, sendAt *time.Time) (outreach.Campaign, error) {
	return l.transition(ctx, actor, "schedule", id, func(tx pgx.Tx, c outreach.Campaign, now time.Time) (outreach.Campaign, error) {
		if c.Status != outreach.CampaignDraft {
			return c, conflict(c, "scheduled")
		}
		q := dbsqlc.New(tx)
		p := dbsqlc.CampaignUpdateScheduleParams{ID: c.ID, Status: string(outreach.CampaignScheduled), SendAt: c.SendAt, Now: now}
		switch {
		case c.Cron != "":
			if sendAt != nil {
				return c, outreach.Invalid(outreach.FieldError{Field: "send_at", Message: "a recurring campaign fires on its cron schedule"})
			}
			s, err := schedule.Parse(c.Cron, c.Timezone)
			if err != nil {
				return c, outreach.Invalid(outreach.FieldError{Field: "cron", Message: err.Error()})
			}
			next := s.Next(now)
			p.NextFireAt = &next
		default:
			if sendAt != nil {
				p.SendAt = sendAt
			}
			at := now
			if p.SendAt != nil && p.SendAt.After(now) {
				at = *p.SendAt
			}
			c.SendAt = p.SendAt
			if _, err := l.startRun(ctx, tx, c, at); err != nil {
				return c, err
			}
		}
		row, err := q.CampaignUpdateSchedule(ctx, p)
		return postgres.CampaignFromRow(row), err
	})
}

// Pause stops a campaign: nothing more is sent; scheduled deliveries are
// held where they are (the send check skips them) until Resume.
func (l *Launcher) Pause(ctx context.Context, actor string, id int64) (outreach.Campaign, error) {
	return l.transition(ctx, actor, "pause", id, func(tx pgx.Tx, c outreach.Campaign, now time.Time) (outreach.Campaign, error) {
		if c.Status != outreach.CampaignScheduled && c.Status != outreach.CampaignRunning {
			return c, conflict(c, "paused")
		}
		row, err := dbsqlc.New(tx).CampaignSetStatus(ctx, dbsqlc.CampaignSetStatusParams{ID: c.ID, Status: string(outreach.CampaignPaused), Now: now})
		return postgres.CampaignFromRow(row), err
	})
}

// Resume continues a paused campaign: held deliveries are re-planned under
// the rules as they are now; planning jobs waiting on the pause (they
// snooze) carry on by themselves.
func (l *Launcher) Resume(ctx context.Context, actor string, id int64) (outreach.Campaign, error) {
	return l.transition(ctx, actor, "resume", id, func(tx pgx.Tx, c outreach.Campaign, now time.Time) (outreach.Campaign, error) {
		if c.Status != outreach.CampaignPaused {
			return c, conflict(c, "resumed")
		}
		q := dbsqlc.New(tx)
		status := outreach.CampaignRunning
		if c.Cron != "" {
			status = outreach.CampaignScheduled
		}
		row, err := q.CampaignSetStatus(ctx, dbsqlc.CampaignSetStatusParams{ID: c.ID, Status: string(status), Now: now})
		if err != nil {
			return c, err
		}
		if _, err := l.Client.InsertTx(ctx, tx, ReplanArgs{CampaignID: c.ID}, nil); err != nil {
			return c, err
		}
		return postgres.CampaignFromRow(row), nil
	})
}

// Cancel ends a campaign: scheduled deliveries are skipped with reason
// canceled; messages already handed to the server are not recalled.
func (l *Launcher) Cancel(ctx context.Context, actor string, id int64) (outreach.Campaign, error) {
	return l.transition(ctx, actor, "cancel", id, func(tx pgx.Tx, c outreach.Campaign, now time.Time) (outreach.Campaign, error) {
		if c.Status == outreach.CampaignCanceled || c.Status == outreach.CampaignCompleted {
			return c, conflict(c, "canceled")
		}
		q := dbsqlc.New(tx)
		if _, err := q.CampaignCancelDeliveries(ctx, dbsqlc.CampaignCancelDeliveriesParams{CampaignID: c.ID, Now: now}); err != nil {
			return c, err
		}
		if err := q.RunsCancel(ctx, dbsqlc.RunsCancelParams{CampaignID: c.ID, Now: now}); err != nil {
			return c, err
		}
		row, err := q.CampaignSetStatus(ctx, dbsqlc.CampaignSetStatusParams{ID: c.ID, Status: string(outreach.CampaignCanceled), Now: now})
		return postgres.CampaignFromRow(row), err
	})
}
