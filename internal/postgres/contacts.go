package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
)

// UpsertContact creates a contact or updates the one with the same email,
// reporting which. Unknown tiers and topics are field errors; nothing is
// written then.
func (s *Store) UpsertContact(ctx context.Context, actor string, c outreach.Contact) (outreach.Contact, bool, error) {
	if errs := c.Normalize(); len(errs) > 0 {
		return outreach.Contact{}, false, outreach.Invalid(errs...)
	}
	attrs, err := json.Marshal(c.Attributes)
	if err != nil {
		return outreach.Contact{}, false, outreach.Invalid(outreach.FieldError{Field: "attributes", Message: "must be a JSON object"})
	}
	now := s.clock.Now()
	var out outreach.Contact
	var inserted bool
	err = s.InTx(ctx, func(tx pgxTx) error {
		q := Queries(tx)
		if err := checkTopics(ctx, q, "topics_opted_out", c.TopicsOptedOut); err != nil {
			return err
		}
		row, err := q.ContactUpsert(ctx, dbsqlc.ContactUpsertParams{
			Email: c.Email, ExternalID: nilIfEmpty(c.ExternalID), Name: c.Name, Locale: c.Locale,
			Timezone: c.Timezone, Tier: c.Tier, PreferredTier: nilIfEmpty(c.PreferredTier),
			TopicsOptedOut: c.TopicsOptedOut, PausedUntil: c.PausedUntil, Attributes: attrs, Now: now,
		})
		if err != nil {
			return err
		}
		out, inserted = ContactFromRow(row.Contact), row.Inserted
		action := "update"
		if inserted {
			action = "create"
		}
		return contactEvent(ctx, q, now, out.ID, "contact_"+action, actor, nil)
	})
	if err != nil {
		return outreach.Contact{}, false, mapError("upsert contact", err)
	}
	return out, inserted, nil
}

func checkTopics(ctx context.Context, q *dbsqlc.Queries, field string, keys []string) error {
	for _, k := range keys {
		ok, err := q.TopicExists(ctx, k)
		if err != nil {
			return err
		}
		if !ok {
			return outreach.Invalid(outreach.FieldError{Field: field, Message: "no such topic: " + k})
		}
	}
	return nil
}

// contactEvent records a fact for the contact's timeline in the caller's
// transaction.
func contactEvent(ctx context.Context, q *dbsqlc.Queries, now time.Time, contactID int64, kind, actor string, detail any) error {
	d, err := jsonOrNil(detail)
	if err != nil {
		return err
	}
	if d == nil {
		d = []byte("{}")
	}
	return q.ContactEventInsert(ctx, dbsqlc.ContactEventInsertParams{ContactID: contactID, Kind: kind, Detail: d, Actor: actor, Now: now})
}

// Contact returns one contact.
func (s *Store) Contact(ctx context.Context, id int64) (outreach.Contact, error) {
	row, err := s.q.ContactGet(ctx, id)
	if err != nil {
		return outreach.Contact{}, mapError("contact", err)
	}
	return ContactFromRow(row), nil
}

// ContactFilter narrows a contact listing.
type ContactFilter struct {
	Tier    string
	Status  string
	AfterID int64
	Limit   int
}

// Contacts lists contacts in id order after f.AfterID.
func (s *Store) Contacts(ctx context.Context, f ContactFilter) ([]outreach.Contact, error) {
	rows, err := s.q.ContactList(ctx, dbsqlc.ContactListParams{
		AfterID: f.AfterID, Tier: nilIfEmpty(f.Tier), Status: nilIfEmpty(f.Status), Lim: int32(f.Limit),
	})
	if err != nil {
		return nil, mapError("list contacts", err)
	}
	out := make([]outreach.Contact, len(rows))
	for i, r := range rows {
		out[i] = ContactFromRow(r)
	}
	return out, nil
}

// ContactFromRow converts a stored contact.
func ContactFromRow(r dbsqlc.Contact) outreach.Contact {
	c := outreach.Contact{ID: r.ID, Email: r.Email, ExternalID: deref(r.ExternalID), Name: r.Name, Locale: r.Locale,
		Timezone: r.Timezone, Tier: r.Tier, PreferredTier: deref(r.PreferredTier), TopicsOptedOut: r.TopicsOptedOut,
		PausedUntil: r.PausedUntil, Status: outreach.ContactStatus(r.Status), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if c.TopicsOptedOut == nil {
		c.TopicsOptedOut = []string{}
	}
	_ = json.Unmarshal(r.Attributes, &c.Attributes)
	if c.Attributes == nil {
		c.Attributes = map[string]any{}
	}
	return c
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
