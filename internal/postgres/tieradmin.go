package postgres

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
)

// ValidateTier checks a tier's own fields and its rule.
func ValidateTier(t outreach.Tier) []outreach.FieldError {
	var errs []outreach.FieldError
	if !outreach.ValidKey(t.Key) {
		errs = append(errs, outreach.FieldError{Field: "key", Message: "must be a lower-case slug (a-z, 0-9, - and _), at most 63 characters"})
	}
	if t.Name == "" || len(t.Name) > 200 {
		errs = append(errs, outreach.FieldError{Field: "name", Message: "is required (at most 200 characters)"})
	}
	if len(t.Description) > 2000 {
		errs = append(errs, outreach.FieldError{Field: "description", Message: "must be at most 2000 characters"})
	}
	if t.Rank < 0 || t.Rank > math.MaxInt32 {
		errs = append(errs, outreach.FieldError{Field: "rank", Message: "must be a whole number of at least 0"})
	}
	return append(errs, t.Rule.Validate()...)
}

// validRule checks a tier and returns its rule in stored (JSON) form.
func validRule(t outreach.Tier) ([]byte, error) {
	if errs := ValidateTier(t); len(errs) > 0 {
		return nil, outreach.Invalid(errs...)
	}
	return json.Marshal(t.Rule)
}

// CreateTier adds a tier.
func (s *Store) CreateTier(ctx context.Context, actor string, t outreach.Tier) (outreach.Tier, error) {
	rule, err := validRule(t)
	if err != nil {
		return outreach.Tier{}, err
	}
	now := s.clock.Now()
	var out outreach.Tier
	err = s.InTx(ctx, func(tx pgxTx) error {
		row, err := Queries(tx).TierCreate(ctx, dbsqlc.TierCreateParams{Key: t.Key, Name: t.Name, Description: t.Description,
			Rank: int32(t.Rank), Selectable: t.Selectable, Rule: rule, Now: now})
		if err != nil {
			return err
		}
		if out, err = tierFromRow(row); err != nil {
			return err
		}
		return audit(ctx, tx, now, actor, "create", "tier", t.Key, nil, tierAudit(out))
	})
	return out, mapError("create tier", err)
}

// UpdateTier replaces a tier's fields and rule, bumping its version; the
// audit log keeps who, when, before and after.
func (s *Store) UpdateTier(ctx context.Context, actor string, t outreach.Tier) (outreach.Tier, error) {
	rule, err := validRule(t)
	if err != nil {
		return outreach.Tier{}, err
	}
	now := s.clock.Now()
	var out outreach.Tier
	err = s.InTx(ctx, func(tx pgxTx) error {
		q := Queries(tx)
		beforeRow, err := q.TierGetForUpdate(ctx, t.Key)
		if err != nil {
			return err
		}
		before, err := tierFromRow(beforeRow)
		if err != nil {
			return err
		}
		row, err := q.TierUpdate(ctx, dbsqlc.TierUpdateParams{Key: t.Key, Name: t.Name, Description: t.Description,
			Rank: int32(t.Rank), Selectable: t.Selectable, Rule: rule, Now: now})
		if err != nil {
			return err
		}
		if out, err = tierFromRow(row); err != nil {
			return err
		}
		return audit(ctx, tx, now, actor, "update", "tier", t.Key, tierAudit(before), tierAudit(out))
	})
	return out, mapError("tier "+t.Key, err)
}

// tierAudit is the form of a tier kept in the audit log.
func tierAudit(t outreach.Tier) map[string]any {
	return map[string]any{"key": t.Key, "name": t.Name, "description": t.Description, "rank": t.Rank,
		"selectable": t.Selectable, "rule": t.Rule, "version": t.Version}
}

// AuditEntries lists audit entries for one entity, newest first, before an
// entry id (0: from the newest).
func (s *Store) AuditEntries(ctx context.Context, entity, id string, beforeID int64, limit int) ([]outreach.AuditEntry, error) {
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	rows, err := s.q.AuditForEntity(ctx, dbsqlc.AuditForEntityParams{Entity: entity, EntityID: id, BeforeID: beforeID, Lim: int32(limit)})
	if err != nil {
		return nil, mapError("audit "+entity, err)
	}
	out := make([]outreach.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = outreach.AuditEntry{ID: r.ID, Actor: r.Actor, Action: r.Action, Entity: r.Entity, EntityID: r.EntityID,
			Before: r.Before, After: r.After, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// TimelineItem is one line of a contact's timeline: a delivery and its
// decision, or a preference event.
type TimelineItem struct {
	Kind       string // "delivery" or "event"
	ID         int64
	CampaignID *int64
	State      string
	Reason     string
	Rule       string
	PlannedFor *time.Time
	SentAt     *time.Time
	At         time.Time
	Event      string
	Detail     json.RawMessage
	Actor      string
}

// TimelineCursor is where a timeline page continues.
type TimelineCursor struct {
	At   time.Time
	Kind string
	ID   int64
}

// Timeline lists a contact's deliveries and events, newest first.
func (s *Store) Timeline(ctx context.Context, contactID int64, after *TimelineCursor, limit int) ([]TimelineItem, error) {
	if _, err := s.Contact(ctx, contactID); err != nil {
		return nil, err
	}
	p := dbsqlc.TimelineParams{ContactID: contactID, BeforeAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), BeforeKind: "~", BeforeID: math.MaxInt64, Lim: int32(limit)}
	if after != nil {
		p.BeforeAt, p.BeforeKind, p.BeforeID = after.At, after.Kind, after.ID
	}
	rows, err := s.q.Timeline(ctx, p)
	if err != nil {
		return nil, mapError("timeline", err)
	}
	out := make([]TimelineItem, len(rows))
	for i, r := range rows {
		out[i] = TimelineItem{Kind: r.Kind, ID: r.ID, State: r.State, Reason: r.Reason, Rule: r.Rule,
			SentAt: r.SentAt, At: r.At, Event: r.Event, Detail: r.Detail, Actor: r.Actor}
		if r.Kind == "delivery" {
			campaign, planned := r.CampaignID, r.PlannedFor
			out[i].CampaignID, out[i].PlannedFor = &campaign, &planned
		}
	}
	return out, nil
}

// Overdue lists active contacts past their effective tier's target interval.
func (s *Store) Overdue(ctx context.Context, afterID int64, limit int) ([]outreach.Contact, error) {
	tiers, err := s.Tiers(ctx)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	var p dbsqlc.OverdueContactsParams
	for _, t := range tiers {
		if t.Rule.TargetInterval <= 0 {
			continue
		}
		p.Keys = append(p.Keys, t.Key)
		p.Ranks = append(p.Ranks, int32(t.Rank))
		p.Cutoffs = append(p.Cutoffs, now.Add(-t.Rule.TargetInterval))
	}
	if len(p.Keys) == 0 {
		return nil, nil
	}
	p.AfterID, p.Lim = afterID, int32(limit)
	rows, err := s.q.OverdueContacts(ctx, p)
	if err != nil {
		return nil, mapError("overdue contacts", err)
	}
	out := make([]outreach.Contact, len(rows))
	for i, r := range rows {
		out[i] = ContactFromRow(r)
	}
	return out, nil
}
