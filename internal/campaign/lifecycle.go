package campaign

import (
	"context"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/schedule"
)

// Action is a lifecycle change a campaign may go through.
type Action string

// The lifecycle actions.
const (
	ActionSend     Action = "send"
	ActionSchedule Action = "schedule"
	ActionPause    Action = "pause"
	ActionResume   Action = "resume"
	ActionCancel   Action = "cancel"
)

// Actions are the lifecycle actions in the order a person meets them.
var Actions = []Action{ActionSend, ActionSchedule, ActionPause, ActionResume, ActionCancel}

// Can reports whether c's status allows the action: the one rule the
// service checks and the console's buttons follow. A draft, scheduled,
// running or completed campaign can be sent (again); only a draft
// scheduled; a scheduled or running one paused; a paused one resumed;
// any but a canceled or completed one canceled.
func Can(a Action, c outreach.Campaign) bool {
	switch a {
	case ActionSend:
		switch c.Status {
		case outreach.CampaignDraft, outreach.CampaignScheduled, outreach.CampaignRunning, outreach.CampaignCompleted:
			return true
		}
	case ActionSchedule:
		return c.Status == outreach.CampaignDraft
	case ActionPause:
		return c.Status == outreach.CampaignScheduled || c.Status == outreach.CampaignRunning
	case ActionResume:
		return c.Status == outreach.CampaignPaused
	case ActionCancel:
		return c.Status != outreach.CampaignCanceled && c.Status != outreach.CampaignCompleted
	}
	return false
}

// Send starts a run of the campaign now, under an Idempotency-Key when idem
// is set: the key is recorded in the same transaction as the run, so a
// retried request never starts a second one (replayed, with the first
// run's id).
func (s *Service) Send(ctx context.Context, actor string, id int64, idem *postgres.Idem) (c outreach.Campaign, runID int64, replayed bool, err error) {
	err = s.store.InTx(ctx, func(tx *postgres.Tx) error {
		prev, err := tx.ClaimIdempotency(ctx, idem)
		if err != nil {
			return err
		}
		if prev != nil {
			replayed = true
			if prev.RunID != nil {
				runID = *prev.RunID
			}
			c, err = tx.Campaign(ctx, prev.ResourceID)
			return err
		}
		before, err := tx.CampaignForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if !Can(ActionSend, before) {
			return outreach.Errorf(outreach.ECONFLICT, "campaign %d is %s; only a draft, scheduled, running or completed campaign can be sent", id, before.Status)
		}
		if runID, err = s.StartRun(ctx, tx, before, s.cfg.Clock.Now()); err != nil {
			return err
		}
		if c, err = tx.SetCampaignStatus(ctx, id, outreach.CampaignRunning); err != nil {
			return err
		}
		if err := tx.SetIdempotencyResult(ctx, idem, id, &runID); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, "send", "campaign", itoa(id), map[string]any{"status": before.Status},
			map[string]any{"status": c.Status, "run_id": runID})
	})
	return c, runID, replayed, err
}

// transition runs change on the locked campaign and records the status
// change in the audit log, all in one transaction.
func (s *Service) transition(ctx context.Context, actor, action string, id int64,
	change func(tx *postgres.Tx, c outreach.Campaign, now time.Time) (outreach.Campaign, error)) (outreach.Campaign, error) {
	var out outreach.Campaign
	err := s.store.InTx(ctx, func(tx *postgres.Tx) error {
		before, err := tx.CampaignForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if out, err = change(tx, before, s.cfg.Clock.Now()); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, action, "campaign", itoa(id),
			map[string]any{"status": before.Status}, map[string]any{"status": out.Status})
	})
	return out, err
}

func conflict(c outreach.Campaign, action string) error {
	return outreach.Errorf(outreach.ECONFLICT, "campaign %d is %s and cannot be %s", c.ID, c.Status, action)
}

// Schedule arms a draft campaign: a one-off run planned at send_at (given
// here, or the campaign's own), or, for a cron campaign, its next firing.
func (s *Service) Schedule(ctx context.Context, actor string, id int64, sendAt *time.Time) (outreach.Campaign, error) {
	return s.transition(ctx, actor, "schedule", id, func(tx *postgres.Tx, c outreach.Campaign, now time.Time) (outreach.Campaign, error) {
		if !Can(ActionSchedule, c) {
			return c, conflict(c, "scheduled")
		}
		if c.Cron != "" {
			if sendAt != nil {
				return c, outreach.Invalid(outreach.FieldError{Field: "send_at", Message: "a recurring campaign fires on its cron schedule"})
			}
			sch, err := schedule.Parse(c.Cron, c.Timezone)
			if err != nil {
				return c, outreach.Invalid(outreach.FieldError{Field: "cron", Message: err.Error()})
			}
			next := sch.Next(now)
			return tx.SetCampaignSchedule(ctx, c.ID, outreach.CampaignScheduled, c.SendAt, &next)
		}
		if sendAt != nil {
			c.SendAt = sendAt
		}
		at := now
		if c.SendAt != nil && c.SendAt.After(now) {
			at = *c.SendAt
		}
		if _, err := s.StartRun(ctx, tx, c, at); err != nil {
			return c, err
		}
		return tx.SetCampaignSchedule(ctx, c.ID, outreach.CampaignScheduled, c.SendAt, nil)
	})
}

// Pause stops a campaign: nothing more is sent; scheduled deliveries are
// held where they are (the send check holds them) until Resume.
func (s *Service) Pause(ctx context.Context, actor string, id int64) (outreach.Campaign, error) {
	return s.transition(ctx, actor, "pause", id, func(tx *postgres.Tx, c outreach.Campaign, _ time.Time) (outreach.Campaign, error) {
		if !Can(ActionPause, c) {
			return c, conflict(c, "paused")
		}
		return tx.SetCampaignStatus(ctx, c.ID, outreach.CampaignPaused)
	})
}

// Resume continues a paused campaign: held deliveries are re-planned under
// the rules as they are now; planning jobs waiting on the pause (they
// snooze) carry on by themselves.
func (s *Service) Resume(ctx context.Context, actor string, id int64) (outreach.Campaign, error) {
	return s.transition(ctx, actor, "resume", id, func(tx *postgres.Tx, c outreach.Campaign, _ time.Time) (outreach.Campaign, error) {
		if !Can(ActionResume, c) {
			return c, conflict(c, "resumed")
		}
		status := outreach.CampaignRunning
		if c.Cron != "" {
			status = outreach.CampaignScheduled
		}
		out, err := tx.SetCampaignStatus(ctx, c.ID, status)
		if err != nil {
			return c, err
		}
		return out, s.queue.ReplanCampaign(ctx, tx, c.ID)
	})
}

// Cancel ends a campaign: scheduled deliveries are skipped with reason
// canceled; messages already handed to the server are not recalled.
func (s *Service) Cancel(ctx context.Context, actor string, id int64) (outreach.Campaign, error) {
	return s.transition(ctx, actor, "cancel", id, func(tx *postgres.Tx, c outreach.Campaign, _ time.Time) (outreach.Campaign, error) {
		if !Can(ActionCancel, c) {
			return c, conflict(c, "canceled")
		}
		if _, err := tx.CancelCampaign(ctx, c.ID); err != nil {
			return c, err
		}
		return tx.SetCampaignStatus(ctx, c.ID, outreach.CampaignCanceled)
	})
}
