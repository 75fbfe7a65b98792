package postgres

import (
	"context"
	"encoding/json"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// validRule checks a tier, and that its rule reads no further back than
// deliveries are kept (SetRetention), and returns its rule in stored
// (JSON) form.
func (s *Store) validRule(t outreach.Tier) ([]byte, error) {
	if errs := append(t.Validate(), t.Rule.WithinRetention(s.retention)...); len(errs) > 0 {
		return nil, outreach.Invalid(errs...)
	}
	return json.Marshal(t.Rule)
}

// CreateTier adds a tier.
func (s *Store) CreateTier(ctx context.Context, actor string, t outreach.Tier) (outreach.Tier, error) {
	rule, err := s.validRule(t)
	if err != nil {
		return outreach.Tier{}, err
	}
	now := s.clock.Now()
	var out outreach.Tier
	err = s.InTx(ctx, func(tx *Tx) error {
		row, err := tx.q.TierCreate(ctx, dbsqlc.TierCreateParams{Key: t.Key, Name: t.Name, Description: t.Description,
			Rank: int32(t.Rank), Selectable: t.Selectable, Rule: rule, Now: now})
		if err != nil {
			return err
		}
		if out, err = tierFromRow(row); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, "create", "tier", t.Key, nil, tierAudit(out))
	})
	return out, mapError("create tier", err)
}

// UpdateTier replaces a tier's fields and rule, bumping its version; the
// audit log keeps who, when, before and after.
func (s *Store) UpdateTier(ctx context.Context, actor string, t outreach.Tier) (outreach.Tier, error) {
	rule, err := s.validRule(t)
	if err != nil {
		return outreach.Tier{}, err
	}
	now := s.clock.Now()
	var out outreach.Tier
	err = s.InTx(ctx, func(tx *Tx) error {
		q := tx.q
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
		return tx.Audit(ctx, actor, "update", "tier", t.Key, tierAudit(before), tierAudit(out))
	})
	return out, mapError("tier "+t.Key, err)
}

// tierAudit is the form of a tier kept in the audit log.
func tierAudit(t outreach.Tier) map[string]any {
	return map[string]any{"key": t.Key, "name": t.Name, "description": t.Description, "rank": t.Rank,
		"selectable": t.Selectable, "rule": t.Rule, "version": t.Version}
}
