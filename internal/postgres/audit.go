package postgres

import (
	"context"
	"math"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// Audit records who did what to which entity, with before and after, in
// the same transaction as the change itself so the log can never disagree
// with it.
func (t *Tx) Audit(ctx context.Context, actor, action, entity, id string, before, after any) error {
	b, err := jsonOrNil(before)
	if err != nil {
		return err
	}
	a, err := jsonOrNil(after)
	if err != nil {
		return err
	}
	return mapError("audit", t.q.AuditInsert(ctx, dbsqlc.AuditInsertParams{
		Actor: actor, Action: action, Entity: entity, EntityID: id, Before: b, After: a, Now: t.Now(),
	}))
}

// AuditPreview records that actor previewed a campaign as one real contact
// would receive it: a preview shows that contact's data, so who looked is
// on record. The entry names the contact by id only, never by address or
// name.
func (s *Store) AuditPreview(ctx context.Context, actor string, campaignID, contactID int64) error {
	return s.InTx(ctx, func(tx *Tx) error {
		return tx.Audit(ctx, actor, "preview", "campaign", itoa(campaignID), nil, map[string]any{"contact_id": contactID})
	})
}

// AuditFilter narrows an audit listing. Empty fields do not filter.
type AuditFilter struct {
	Entity, EntityID string
	// Actor and Action match exactly, e.g. "user:ada@example.com" and
	// "revoke".
	Actor, Action string
	// Since and Until bound the entries' time: Since <= at < Until.
	Since, Until *time.Time
	BeforeID     int64 // entries older than this id; 0: from the newest
	Limit        int
}

// Audit lists audit entries newest first.
func (s *Store) Audit(ctx context.Context, f AuditFilter) ([]outreach.AuditEntry, error) {
	before := f.BeforeID
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.q.AuditList(ctx, dbsqlc.AuditListParams{BeforeID: before, Entity: nilIfEmpty(f.Entity),
		EntityID: nilIfEmpty(f.EntityID), Actor: nilIfEmpty(f.Actor), Action: nilIfEmpty(f.Action),
		Since: f.Since, Until: f.Until, Lim: int32(f.Limit)})
	if err != nil {
		return nil, mapError("audit", err)
	}
	out := make([]outreach.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = auditFromRow(r)
	}
	return out, nil
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
		out[i] = auditFromRow(r)
	}
	return out, nil
}

func conflictf(format string, args ...any) error {
	return outreach.Errorf(outreach.ECONFLICT, format, args...)
}
