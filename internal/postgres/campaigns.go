package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// CreateCampaign stores a validated campaign as a draft.
func (s *Store) CreateCampaign(ctx context.Context, actor string, c outreach.Campaign) (outreach.Campaign, error) {
	out, _, err := s.CreateCampaignIdem(ctx, actor, c, nil)
	return out, err
}

// CreateCampaignIdem is CreateCampaign under an Idempotency-Key: a retried
// request returns the campaign the first one created (replayed true).
func (s *Store) CreateCampaignIdem(ctx context.Context, actor string, c outreach.Campaign, idem *Idem) (outreach.Campaign, bool, error) {
	content, _ := json.Marshal(c.Content)
	variants, _ := json.Marshal(orEmpty(c.Variants))
	audience, _ := json.Marshal(c.Audience)
	var out outreach.Campaign
	var replayed bool
	err := s.InTx(ctx, func(tx *Tx) error {
		prev, err := tx.ClaimIdempotency(ctx, idem)
		if err != nil {
			return err
		}
		if prev != nil {
			replayed = true
			out, err = tx.Campaign(ctx, prev.ResourceID)
			return err
		}
		now := s.clock.Now()
		row, err := tx.q.CampaignInsert(ctx, dbsqlc.CampaignInsertParams{
			Name: c.Name, Topic: nilIfEmpty(c.Topic), Category: string(c.Category), Priority: int32(c.Priority),
			Content: content, Variants: variants, Audience: audience, SendAt: c.SendAt, Cron: c.Cron,
			Timezone: c.Timezone, ExpiresAfterSeconds: int64(c.ExpiresAfter / time.Second), CreatedBy: actor, Now: now,
		})
		if err != nil {
			return err
		}
		out = campaignFromRow(row)
		if err := tx.SetIdempotencyResult(ctx, idem, out.ID, nil); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, "create", "campaign", itoa(out.ID), nil,
			map[string]any{"name": out.Name, "category": out.Category, "topic": out.Topic})
	})
	return out, replayed, mapError("create campaign", err)
}

// Campaign returns one campaign.
func (s *Store) Campaign(ctx context.Context, id int64) (outreach.Campaign, error) {
	row, err := s.q.CampaignGet(ctx, id)
	if err != nil {
		return outreach.Campaign{}, mapError("campaign", err)
	}
	return campaignFromRow(row), nil
}

// Campaign returns one campaign as the transaction sees it.
func (t *Tx) Campaign(ctx context.Context, id int64) (outreach.Campaign, error) {
	row, err := t.q.CampaignGet(ctx, id)
	if err != nil {
		return outreach.Campaign{}, mapError("campaign", err)
	}
	return campaignFromRow(row), nil
}

// CampaignForUpdate returns a campaign locked until the transaction ends,
// so lifecycle changes to it happen one at a time.
func (t *Tx) CampaignForUpdate(ctx context.Context, id int64) (outreach.Campaign, error) {
	row, err := t.q.CampaignGetForUpdate(ctx, id)
	if err != nil {
		return outreach.Campaign{}, mapError("campaign", err)
	}
	return campaignFromRow(row), nil
}

// CampaignList lists campaigns in id order after afterID ("" status: all).
func (s *Store) CampaignList(ctx context.Context, status string, afterID int64, limit int) ([]outreach.Campaign, error) {
	rows, err := s.q.CampaignList(ctx, dbsqlc.CampaignListParams{AfterID: afterID, Status: nilIfEmpty(status), Lim: int32(limit)})
	if err != nil {
		return nil, mapError("list campaigns", err)
	}
	return campaignsFromRows(rows), nil
}

// UpdateCampaign replaces a draft campaign's definition.
func (s *Store) UpdateCampaign(ctx context.Context, actor string, c outreach.Campaign) (outreach.Campaign, error) {
	content, _ := json.Marshal(c.Content)
	variants, _ := json.Marshal(orEmpty(c.Variants))
	audience, _ := json.Marshal(c.Audience)
	var out outreach.Campaign
	err := s.InTx(ctx, func(tx *Tx) error {
		cur, err := tx.CampaignForUpdate(ctx, c.ID)
		if err != nil {
			return err
		}
		if cur.Status != outreach.CampaignDraft {
			return outreach.Errorf(outreach.ECONFLICT, "campaign %d is %s; only drafts can be changed", c.ID, cur.Status)
		}
		row, err := tx.q.CampaignUpdate(ctx, dbsqlc.CampaignUpdateParams{ID: c.ID, Name: c.Name, Topic: nilIfEmpty(c.Topic),
			Category: string(c.Category), Priority: int32(c.Priority), Content: content, Variants: variants, Audience: audience,
			SendAt: c.SendAt, Cron: c.Cron, Timezone: c.Timezone, ExpiresAfterSeconds: int64(c.ExpiresAfter / time.Second), Now: s.clock.Now()})
		if err != nil {
			return err
		}
		out = campaignFromRow(row)
		return tx.Audit(ctx, actor, "update", "campaign", itoa(c.ID), cur.Content, out.Content)
	})
	return out, mapError("update campaign", err)
}

// SetCampaignStatus changes a campaign's status.
func (t *Tx) SetCampaignStatus(ctx context.Context, id int64, status outreach.CampaignStatus) (outreach.Campaign, error) {
	row, err := t.q.CampaignSetStatus(ctx, dbsqlc.CampaignSetStatusParams{ID: id, Status: string(status), Now: t.Now()})
	if err != nil {
		return outreach.Campaign{}, mapError("set campaign status", err)
	}
	return campaignFromRow(row), nil
}

// SetCampaignSchedule arms a campaign: its status, its one-off send_at and
// a recurring campaign's next firing.
func (t *Tx) SetCampaignSchedule(ctx context.Context, id int64, status outreach.CampaignStatus, sendAt, nextFireAt *time.Time) (outreach.Campaign, error) {
	row, err := t.q.CampaignUpdateSchedule(ctx, dbsqlc.CampaignUpdateScheduleParams{ID: id, Status: string(status),
		SendAt: sendAt, NextFireAt: nextFireAt, Now: t.Now()})
	if err != nil {
		return outreach.Campaign{}, mapError("schedule campaign", err)
	}
	return campaignFromRow(row), nil
}

// CancelCampaign skips a campaign's scheduled deliveries with reason
// canceled and cancels its runs; it returns how many deliveries it skipped.
func (t *Tx) CancelCampaign(ctx context.Context, id int64) (int64, error) {
	now := t.Now()
	n, err := t.q.CampaignCancelDeliveries(ctx, dbsqlc.CampaignCancelDeliveriesParams{CampaignID: id, Now: now})
	if err != nil {
		return 0, mapError("cancel deliveries", err)
	}
	return n, mapError("cancel runs", t.q.RunsCancel(ctx, dbsqlc.RunsCancelParams{CampaignID: id, Now: now}))
}

// DueRecurring locks and returns the recurring campaigns whose next firing
// has come (at most 100). Campaigns another scheduler holds are skipped:
// it fires them.
func (t *Tx) DueRecurring(ctx context.Context, now time.Time) ([]outreach.Campaign, error) {
	rows, err := t.q.CampaignsDue(ctx, now)
	if err != nil {
		return nil, mapError("due campaigns", err)
	}
	return campaignsFromRows(rows), nil
}

// SetNextFire stores a recurring campaign's next firing.
func (t *Tx) SetNextFire(ctx context.Context, id int64, next time.Time) error {
	return mapError("set next firing", t.q.CampaignSetNextFire(ctx, dbsqlc.CampaignSetNextFireParams{ID: id, NextFireAt: &next, Now: t.Now()}))
}

// CompleteCampaigns marks completed the one-off campaigns whose runs are
// planned and whose deliveries have all reached a terminal state, and
// returns their ids.
func (s *Store) CompleteCampaigns(ctx context.Context) ([]int64, error) {
	var ids []int64
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		if ids, err = tx.q.CampaignsComplete(ctx, tx.Now()); err != nil {
			return err
		}
		for _, id := range ids {
			if err := tx.emit(ctx, EventCampaignCompleted, "campaign:"+itoa(id), 0, map[string]any{"campaign_id": id}); err != nil {
				return err
			}
		}
		return nil
	})
	return ids, mapError("complete campaigns", err)
}

// CompleteCampaign completes one one-off campaign if its last delivery
// has reached a terminal state, as CompleteCampaigns does for all; the
// send worker calls it after each batch, so a campaign is completed
// moments after its last message rather than at the next sweep. It
// reports whether it did.
func (s *Store) CompleteCampaign(ctx context.Context, id int64) (bool, error) {
	pending, err := s.q.CampaignPendingDelivery(ctx, id)
	if err != nil || len(pending) > 0 {
		return false, mapError("complete campaign", err)
	}
	done := false
	err = s.InTx(ctx, func(tx *Tx) error {
		ids, err := tx.q.CampaignComplete(ctx, dbsqlc.CampaignCompleteParams{ID: id, Now: tx.Now()})
		if err != nil || len(ids) == 0 {
			return err
		}
		done = true
		return tx.emit(ctx, EventCampaignCompleted, "campaign:"+itoa(id), 0, map[string]any{"campaign_id": id})
	})
	return done, mapError("complete campaign", err)
}

// StatRow counts one campaign's deliveries of a tier in a state for a reason.
type StatRow struct {
	Tier, State, Reason string
	N                   int64
	// Recent is how many of them were sent within the last RecentWindow.
	Recent int64
}

// RecentWindow is how far back CampaignStats counts recent sends.
const RecentWindow = time.Minute

// CampaignStats counts a campaign's deliveries.
func (s *Store) CampaignStats(ctx context.Context, id int64) ([]StatRow, error) {
	if _, err := s.Campaign(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.q.CampaignStats(ctx, dbsqlc.CampaignStatsParams{CampaignID: id, Since: s.clock.Now().Add(-RecentWindow)})
	if err != nil {
		return nil, mapError("campaign stats", err)
	}
	out := make([]StatRow, len(rows))
	for i, r := range rows {
		out[i] = StatRow{Tier: r.Tier, State: r.State, Reason: r.Reason, N: r.N, Recent: r.Recent}
	}
	return out, nil
}

func orEmpty(m map[string]outreach.Content) map[string]outreach.Content {
	if m == nil {
		return map[string]outreach.Content{}
	}
	return m
}
