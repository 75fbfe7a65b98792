package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
)

// UpdateContact replaces a contact's fields with c (the caller merged the
// patch onto the current contact) under the contact's row lock, so a send
// batch in flight either sees all of the change or none.
func (s *Store) UpdateContact(ctx context.Context, actor string, id int64, patch func(*outreach.Contact) error) (outreach.Contact, error) {
	now := s.clock.Now()
	var out outreach.Contact
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		q := Queries(tx)
		row, err := q.ContactGetForUpdate(ctx, id)
		if err != nil {
			return err
		}
		before := ContactFromRow(row)
		c := before
		c.TopicsOptedOut = append([]string(nil), before.TopicsOptedOut...)
		if err := patch(&c); err != nil {
			return err
		}
		if errs := c.Normalize(); len(errs) > 0 {
			return outreach.Invalid(errs...)
		}
		if err := checkTopics(ctx, q, "topics_opted_out", c.TopicsOptedOut); err != nil {
			return err
		}
		attrs, err := json.Marshal(c.Attributes)
		if err != nil {
			return outreach.Invalid(outreach.FieldError{Field: "attributes", Message: "must be a JSON object"})
		}
		updated, err := q.ContactUpdate(ctx, dbsqlc.ContactUpdateParams{ID: id, Email: c.Email, ExternalID: nilIfEmpty(c.ExternalID),
			Name: c.Name, Locale: c.Locale, Timezone: c.Timezone, Tier: c.Tier, PreferredTier: nilIfEmpty(c.PreferredTier),
			TopicsOptedOut: c.TopicsOptedOut, PausedUntil: c.PausedUntil, Attributes: attrs, Now: now})
		if err != nil {
			return err
		}
		out = ContactFromRow(updated)
		return contactEvent(ctx, q, now, id, "contact_update", actor, nil)
	})
	return out, mapError("update contact", err)
}

// EraseContact removes a contact's personal data for good. The row stays
// (deliveries refer to it) under a placeholder address; the real address is
// kept only as a SHA-256 suppression, so it is never mailed again, even if
// it is imported anew.
func (s *Store) EraseContact(ctx context.Context, actor string, id int64) error {
	now := s.clock.Now()
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		q := Queries(tx)
		row, err := q.ContactGetForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if err := q.SuppressionErase(ctx, dbsqlc.SuppressionEraseParams{EmailHash: EmailHash(row.Email), Now: now}); err != nil {
			return err
		}
		if err := q.AuditScrub(ctx, row.Email); err != nil {
			return err
		}
		if err := q.ContactEventsScrub(ctx, id); err != nil {
			return err
		}
		if err := q.ContactErase(ctx, dbsqlc.ContactEraseParams{ID: id, Now: now}); err != nil {
			return err
		}
		return audit(ctx, tx, now, actor, "erase", "contact", itoa(id), nil, nil)
	})
	return mapError("erase contact", err)
}

// CreateTopic adds a topic.
func (s *Store) CreateTopic(ctx context.Context, actor string, t outreach.Topic) (outreach.Topic, error) {
	var errs []outreach.FieldError
	if !outreach.ValidKey(t.Key) {
		errs = append(errs, outreach.FieldError{Field: "key", Message: "must be a lower-case slug (a-z, 0-9, - and _)"})
	}
	if t.Name == "" || len(t.Name) > 200 {
		errs = append(errs, outreach.FieldError{Field: "name", Message: "is required (at most 200 characters)"})
	}
	if len(errs) > 0 {
		return t, outreach.Invalid(errs...)
	}
	now := s.clock.Now()
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := Queries(tx).TopicCreate(ctx, dbsqlc.TopicCreateParams{Key: t.Key, Name: t.Name, Now: now}); err != nil {
			return err
		}
		return audit(ctx, tx, now, actor, "create", "topic", t.Key, nil, map[string]any{"key": t.Key, "name": t.Name})
	})
	return t, mapError("create topic", err)
}

// Idem identifies a request made with an Idempotency-Key.
type Idem struct {
	APIKeyID int64
	Key      string
	Route    string
	Hash     []byte
}

// IdemResult is what an earlier request with the same key did.
type IdemResult struct {
	ResourceID int64
	RunID      *int64
}

// ClaimIdempotency records the key in tx. When the key was used before it
// returns that request's result (replay); a different request under the
// same key is an error.
func ClaimIdempotency(ctx context.Context, tx pgx.Tx, now time.Time, in *Idem) (*IdemResult, error) {
	if in == nil {
		return nil, nil
	}
	q := Queries(tx)
	_, err := q.IdempotencyClaim(ctx, dbsqlc.IdempotencyClaimParams{ApiKeyID: in.APIKeyID, IdemKey: in.Key, Route: in.Route, RequestHash: in.Hash, Now: now})
	if err == nil {
		return nil, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	prev, err := q.IdempotencyGet(ctx, dbsqlc.IdempotencyGetParams{ApiKeyID: in.APIKeyID, IdemKey: in.Key})
	if err != nil {
		return nil, err
	}
	if prev.Route != in.Route || string(prev.RequestHash) != string(in.Hash) {
		return nil, &outreach.Error{Code: outreach.ECONFLICT, Message: "this Idempotency-Key was used for a different request",
			Fields: []outreach.FieldError{{Field: "Idempotency-Key", Message: "already used for a different request"}}}
	}
	return &IdemResult{ResourceID: prev.ResourceID, RunID: prev.RunID}, nil
}

// SetIdempotencyResult stores what the request did, in its transaction.
func SetIdempotencyResult(ctx context.Context, tx pgx.Tx, in *Idem, resourceID int64, runID *int64) error {
	if in == nil {
		return nil
	}
	return Queries(tx).IdempotencySetResult(ctx, dbsqlc.IdempotencySetResultParams{ApiKeyID: in.APIKeyID, IdemKey: in.Key, ResourceID: resourceID, RunID: runID})
}

// CampaignList lists campaigns in id order.
func (s *Store) CampaignList(ctx context.Context, status string, afterID int64, limit int) ([]outreach.Campaign, error) {
	rows, err := s.q.CampaignList(ctx, dbsqlc.CampaignListParams{AfterID: afterID, Status: nilIfEmpty(status), Lim: int32(limit)})
	if err != nil {
		return nil, mapError("list campaigns", err)
	}
	out := make([]outreach.Campaign, len(rows))
	for i, r := range rows {
		out[i] = CampaignFromRow(r)
	}
	return out, nil
}

// UpdateCampaign replaces a draft campaign's definition.
func (s *Store) UpdateCampaign(ctx context.Context, actor string, c outreach.Campaign) (outreach.Campaign, error) {
	content, _ := json.Marshal(c.Content)
	variants, _ := json.Marshal(orEmpty(c.Variants))
	audience, _ := json.Marshal(c.Audience)
	now := s.clock.Now()
	var out outreach.Campaign
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		q := Queries(tx)
		cur, err := q.CampaignGetForUpdate(ctx, c.ID)
		if err != nil {
			return err
		}
		if cur.Status != string(outreach.CampaignDraft) {
			return outreach.Errorf(outreach.ECONFLICT, "campaign %d is %s; only drafts can be changed", c.ID, cur.Status)
		}
		row, err := q.CampaignUpdate(ctx, dbsqlc.CampaignUpdateParams{ID: c.ID, Name: c.Name, Topic: nilIfEmpty(c.Topic),
			Category: string(c.Category), Priority: int32(c.Priority), Content: content, Variants: variants, Audience: audience,
			SendAt: c.SendAt, Cron: c.Cron, Timezone: c.Timezone, ExpiresAfterSeconds: int64(c.ExpiresAfter / time.Second), Now: now})
		if err != nil {
			return err
		}
		out = CampaignFromRow(row)
		return audit(ctx, tx, now, actor, "update", "campaign", itoa(c.ID), CampaignFromRow(cur).Content, out.Content)
	})
	return out, mapError("update campaign", err)
}

// StatRow counts one campaign's deliveries of a tier in a state for a reason.
type StatRow struct {
	Tier, State, Reason string
	N                   int64
}

// CampaignStats counts a campaign's deliveries.
func (s *Store) CampaignStats(ctx context.Context, id int64) ([]StatRow, error) {
	if _, err := s.Campaign(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.q.CampaignStats(ctx, id)
	if err != nil {
		return nil, mapError("campaign stats", err)
	}
	out := make([]StatRow, len(rows))
	for i, r := range rows {
		out[i] = StatRow{Tier: r.Tier, State: r.State, Reason: r.Reason, N: r.N}
	}
	return out, nil
}

// DeliveryFilter narrows a delivery listing.
type DeliveryFilter struct {
	CampaignID, ContactID *int64
	State, Reason         string
	AfterID               int64
	Limit                 int
}

// Deliveries lists deliveries in id order.
func (s *Store) Deliveries(ctx context.Context, f DeliveryFilter) ([]dbsqlc.DeliveryListRow, error) {
	rows, err := s.q.DeliveryList(ctx, dbsqlc.DeliveryListParams{AfterID: f.AfterID, CampaignID: f.CampaignID, ContactID: f.ContactID,
		State: nilIfEmpty(f.State), Reason: nilIfEmpty(f.Reason), Lim: int32(f.Limit)})
	return rows, mapError("list deliveries", err)
}

// Keys lists API keys, without secrets.
func (s *Store) Keys(ctx context.Context, afterID int64, limit int) ([]APIKey, error) {
	rows, err := s.q.KeyList(ctx, dbsqlc.KeyListParams{AfterID: afterID, Lim: int32(limit)})
	if err != nil {
		return nil, mapError("list keys", err)
	}
	out := make([]APIKey, len(rows))
	for i, r := range rows {
		out[i] = keyFromRow(r)
	}
	return out, nil
}

// RevokeKey revokes a key at once. The last live admin key cannot be
// revoked: nobody could create another.
func (s *Store) RevokeKey(ctx context.Context, actor string, id int64) error {
	now := s.clock.Now()
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		q := Queries(tx)
		if err := q.KeysLock(ctx); err != nil {
			return err
		}
		k, err := q.KeyGetForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return nil
		}
		if k.Role == string(outreach.RoleAdmin) {
			n, err := q.AdminKeysLive(ctx)
			if err != nil {
				return err
			}
			if n <= 1 {
				return outreach.Errorf(outreach.ECONFLICT, "this is the last admin key; create another admin key first")
			}
		}
		if err := q.KeyRevoke(ctx, dbsqlc.KeyRevokeParams{ID: id, Now: &now}); err != nil {
			return err
		}
		return audit(ctx, tx, now, actor, "revoke", "api_key", k.Prefix, map[string]any{"name": k.Name, "role": k.Role}, nil)
	})
	return mapError("revoke key", err)
}

// Audit lists audit entries newest first, before an id (0: newest).
func (s *Store) Audit(ctx context.Context, entity, entityID string, beforeID int64, limit int) ([]outreach.AuditEntry, error) {
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	rows, err := s.q.AuditList(ctx, dbsqlc.AuditListParams{BeforeID: beforeID, Entity: nilIfEmpty(entity), EntityID: nilIfEmpty(entityID), Lim: int32(limit)})
	if err != nil {
		return nil, mapError("audit", err)
	}
	out := make([]outreach.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = outreach.AuditEntry{ID: r.ID, Actor: r.Actor, Action: r.Action, Entity: r.Entity, EntityID: r.EntityID, Before: r.Before, After: r.After, CreatedAt: r.CreatedAt}
	}
	return out, nil
}
