package postgres

import (
	"context"
	"encoding/json"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
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
	err = s.InTx(ctx, func(tx *Tx) error {
		q := tx.q
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
		out, inserted = contactFromRow(row.Contact), row.Inserted
		action := "update"
		if inserted {
			action = "create"
		}
		return tx.contactEvent(ctx, out.ID, "contact_"+action, actor, nil)
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

// contactEvent records a fact for the contact's timeline in the
// transaction.
func (t *Tx) contactEvent(ctx context.Context, contactID int64, kind, actor string, detail any) error {
	d, err := jsonOrNil(detail)
	if err != nil {
		return err
	}
	if d == nil {
		d = []byte("{}")
	}
	return mapError("contact event", t.q.ContactEventInsert(ctx, dbsqlc.ContactEventInsertParams{ContactID: contactID, Kind: kind,
		Detail: d, Actor: actor, Now: t.Now()}))
}

// Contact returns one contact.
func (s *Store) Contact(ctx context.Context, id int64) (outreach.Contact, error) {
	row, err := s.q.ContactGet(ctx, id)
	if err != nil {
		return outreach.Contact{}, mapError("contact", err)
	}
	return contactFromRow(row), nil
}

// ContactFilter narrows a contact listing.
type ContactFilter struct {
	Tier    string
	Status  string
	AfterID int64
	Limit   int
}

// Contacts lists contacts in id order after f.AfterID. Each kind of
// filter has its own query walking an index in id order: a rare status
// (contacts_inactive_idx), a tier (contacts_tier_idx), or none (the
// primary key; active contacts are nearly all of them).
func (s *Store) Contacts(ctx context.Context, f ContactFilter) ([]outreach.Contact, error) {
	var rows []dbsqlc.Contact
	var err error
	switch {
	case f.Status != "" && f.Status != string(outreach.StatusActive):
		rows, err = s.q.ContactListInactive(ctx, dbsqlc.ContactListInactiveParams{
			Status: f.Status, AfterID: f.AfterID, Tier: nilIfEmpty(f.Tier), Lim: int32(f.Limit)})
	case f.Tier != "":
		rows, err = s.q.ContactListByTier(ctx, dbsqlc.ContactListByTierParams{
			Tier: f.Tier, AfterID: f.AfterID, Status: nilIfEmpty(f.Status), Lim: int32(f.Limit)})
	default:
		rows, err = s.q.ContactList(ctx, dbsqlc.ContactListParams{
			AfterID: f.AfterID, Status: nilIfEmpty(f.Status), Lim: int32(f.Limit)})
	}
	if err != nil {
		return nil, mapError("list contacts", err)
	}
	return contactsFromRows(rows), nil
}

// UpdateContact replaces a contact's fields with c (the caller merged the
// patch onto the current contact) under the contact's row lock, so a send
// batch in flight either sees all of the change or none.
func (s *Store) UpdateContact(ctx context.Context, actor string, id int64, patch func(*outreach.Contact) error) (outreach.Contact, error) {
	var out outreach.Contact
	err := s.InTx(ctx, func(tx *Tx) error {
		// The timeline and the audit log say what changed, and who did it;
		// a change that changes nothing writes neither.
		var was, is map[string]any
		changes := func(before, after outreach.Contact) any {
			if was, is = contactChanges(before, after); len(is) == 0 {
				return nil
			}
			return map[string]any{"before": was, "after": is}
		}
		var err error
		if out, _, err = tx.updateContact(ctx, actor, id, patch, "contact_update", changes); err != nil || len(is) == 0 {
			return err
		}
		return tx.Audit(ctx, actor, "update", "contact", itoa(id), was, is)
	})
	return out, mapError("update contact", err)
}

// updateContact is the one contact update path: the row locked, the patch
// applied and checked, the row written and an event of kind with detail on
// the contact's timeline, its detail made from the contact before and after
// (nil: no event). It returns the contact after and before.
func (t *Tx) updateContact(ctx context.Context, actor string, id int64, patch func(*outreach.Contact) error,
	kind string, detail func(before, after outreach.Contact) any) (outreach.Contact, outreach.Contact, error) {
	q := t.q
	row, err := q.ContactGetForUpdate(ctx, id)
	if err != nil {
		return outreach.Contact{}, outreach.Contact{}, err
	}
	before := contactFromRow(row)
	if before.Status == outreach.StatusErased {
		return outreach.Contact{}, before, outreach.Errorf(outreach.ECONFLICT, "this contact was erased: its data cannot be written again")
	}
	c := before
	c.TopicsOptedOut = append([]string(nil), before.TopicsOptedOut...)
	if err := patch(&c); err != nil {
		return outreach.Contact{}, before, err
	}
	if errs := c.Normalize(); len(errs) > 0 {
		return outreach.Contact{}, before, outreach.Invalid(errs...)
	}
	if err := checkTopics(ctx, q, "topics_opted_out", c.TopicsOptedOut); err != nil {
		return outreach.Contact{}, before, err
	}
	attrs, err := json.Marshal(c.Attributes)
	if err != nil {
		return outreach.Contact{}, before, outreach.Invalid(outreach.FieldError{Field: "attributes", Message: "must be a JSON object"})
	}
	updated, err := q.ContactUpdate(ctx, dbsqlc.ContactUpdateParams{ID: id, Email: c.Email, ExternalID: nilIfEmpty(c.ExternalID),
		Name: c.Name, Locale: c.Locale, Timezone: c.Timezone, Tier: c.Tier, PreferredTier: nilIfEmpty(c.PreferredTier),
		TopicsOptedOut: c.TopicsOptedOut, PausedUntil: c.PausedUntil, Attributes: attrs, Now: t.Now()})
	if err != nil {
		return outreach.Contact{}, before, err
	}
	after := contactFromRow(updated)
	d := detail(before, after)
	if d == nil {
		return after, before, nil
	}
	return after, before, t.contactEvent(ctx, id, kind, actor, d)
}

// EraseContact removes a contact's personal data for good. The row stays
// (deliveries refer to it) under a placeholder address and the status
// 'erased', which no send, link or change gets past: it is never mailed
// again in any category, its old links answer 404 and nothing can make it
// active. The real address is kept only as a SHA-256 suppression, so it
// is never mailed again even if it is imported anew. Its timeline events
// go; its deliveries stay as decisions without the server's replies (which
// may quote the address), and audit entries lose any detail naming it.
// Erasing an erased contact changes nothing.
func (s *Store) EraseContact(ctx context.Context, actor string, id int64) error {
	now := s.clock.Now()
	err := s.InTx(ctx, func(tx *Tx) error {
		q := tx.q
		row, err := q.ContactGetForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if outreach.ContactStatus(row.Status) == outreach.StatusErased {
			return nil
		}
		if _, err := tx.Suppress(ctx, actor, row.Email, outreach.SuppressErased, nil); err != nil {
			return err
		}
		if err := q.AuditScrub(ctx, dbsqlc.AuditScrubParams{Email: row.Email, ContactID: itoa(id)}); err != nil {
			return err
		}
		if err := q.AuditScrubContactUpdates(ctx, itoa(id)); err != nil {
			return err
		}
		if err := q.ContactEventsScrub(ctx, id); err != nil {
			return err
		}
		// Events not yet delivered to the CRM carry the address too; the
		// erasure event below tells the CRM what it needs.
		if err := q.WebhookEventsErase(ctx, dbsqlc.WebhookEventsEraseParams{ContactID: &id, Email: row.Email}); err != nil {
			return err
		}
		if err := q.DeliveriesErase(ctx, dbsqlc.DeliveriesEraseParams{ContactID: id, Email: row.Email, Name: row.Name, Now: now}); err != nil {
			return err
		}
		if err := q.ContactErase(ctx, dbsqlc.ContactEraseParams{ID: id, Now: now}); err != nil {
			return err
		}
		if err := tx.Audit(ctx, actor, "erase", "contact", itoa(id), nil, nil); err != nil {
			return err
		}
		// The CRM learns which of its contacts to erase: the ids, no
		// address or name.
		return tx.emit(ctx, EventContactErased, contactKey(id), id, map[string]any{"contact_id": id, "external_id": row.ExternalID})
	})
	return mapError("erase contact", err)
}
