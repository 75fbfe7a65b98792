package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// Prefs is the part of a contact that the contact controls through the
// preference center, plus the suppression on their address. It is what the
// timeline and the audit log record as before and after of every change.
type Prefs struct {
	Status         outreach.ContactStatus     `json:"status"`
	PreferredTier  string                     `json:"preferred_tier"`
	TopicsOptedOut []string                   `json:"topics_opted_out"`
	PausedUntil    *time.Time                 `json:"paused_until"`
	Suppression    outreach.SuppressionReason `json:"suppression"`
}

func (p Prefs) equal(o Prefs) bool {
	return p.Status == o.Status && p.PreferredTier == o.PreferredTier && p.Suppression == o.Suppression &&
		slices.Equal(p.TopicsOptedOut, o.TopicsOptedOut) && equalTime(p.PausedUntil, o.PausedUntil)
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// PrefOrigin says who made a preference change and from which email, for
// the timeline and the audit log.
type PrefOrigin struct {
	// Actor is "customer" for the preference center and the unsubscribe
	// page, "one-click" for an RFC 8058 POST from a mailbox provider.
	Actor string
	// CampaignID is the campaign whose email carried the link; 0 if none.
	CampaignID int64
}

// PrefChange is the outcome of one preference change.
type PrefChange struct {
	Contact       outreach.Contact // as it is after the change
	Before, After Prefs
	// Changed is false when the request asked for what was already so;
	// nothing is written then, not even an event.
	Changed bool
}

// Event kinds written to contact_events (and actions in audit_log) by the
// preference center.
const (
	EventPreferencesChanged = "preferences_changed"
	EventPaused             = "paused"
	EventResumed            = "resumed"
	EventUnsubscribed       = "unsubscribed"
	EventResubscribed       = "resubscribed"
)

// SetPreferences sets the contact's preferred frequency and the topics they
// opted out of. tier "" leaves the preferred tier as it is, and choosing
// the assigned tier while no preference is set records nothing, since it
// changes nothing. A tier that does not exist or is not selectable (even the
// assigned one), or an unknown topic, is an EINVALID error and nothing is
// written.
func (s *Store) SetPreferences(ctx context.Context, contactID int64, o PrefOrigin, tier string, topicsOptedOut []string) (PrefChange, error) {
	return s.changePrefs(ctx, contactID, o, EventPreferencesChanged, func(q *dbsqlc.Queries, c outreach.Contact, p *Prefs, _ time.Time) error {
		if tier != "" {
			row, err := q.TierGet(ctx, tier)
			if err != nil || !row.Selectable {
				if err != nil && outreach.ErrorCode(mapError("tier", err)) != outreach.ENOTFOUND {
					return err
				}
				return outreach.Invalid(outreach.FieldError{Field: "frequency", Message: "is not a frequency you can choose"})
			}
			if p.PreferredTier != "" || tier != c.Tier {
				p.PreferredTier = tier
			}
		}
		topics := normalizeTopics(topicsOptedOut)
		if err := checkTopics(ctx, q, "topics", topics); err != nil {
			return err
		}
		p.TopicsOptedOut = topics
		return nil
	})
}

// Pause stops marketing mail to the contact for d from now; d <= 0 resumes
// it at once. The end is kept to the second, as shown to the customer.
func (s *Store) Pause(ctx context.Context, contactID int64, o PrefOrigin, d time.Duration) (PrefChange, error) {
	kind := EventPaused
	if d <= 0 {
		kind = EventResumed
	}
	return s.changePrefs(ctx, contactID, o, kind, func(_ *dbsqlc.Queries, _ outreach.Contact, p *Prefs, now time.Time) error {
		if d <= 0 {
			p.PausedUntil = nil
			return nil
		}
		until := now.Add(d).Truncate(time.Second)
		p.PausedUntil = &until
		return nil
	})
}

// Unsubscribe stops all marketing mail to the contact: status
// 'unsubscribed' and an 'unsubscribe' suppression on the address. A bounced
// or complained contact keeps that stronger status, and an existing
// suppression keeps its reason; asking twice changes nothing.
func (s *Store) Unsubscribe(ctx context.Context, contactID int64, o PrefOrigin) (PrefChange, error) {
	return s.changePrefs(ctx, contactID, o, EventUnsubscribed, func(_ *dbsqlc.Queries, _ outreach.Contact, p *Prefs, _ time.Time) error {
		if p.Status == outreach.StatusActive {
			p.Status = outreach.StatusUnsubscribed
		}
		if p.Suppression == "" {
			p.Suppression = outreach.SuppressUnsubscribe
		}
		return nil
	})
}

// Resubscribe undoes an unsubscribe: status 'active' and the 'unsubscribe'
// suppression removed. An address suppressed for any other reason (bounce,
// complaint, manual, erasure) or a bounced or complained contact is an
// ECONFLICT error: only the company may lift those.
func (s *Store) Resubscribe(ctx context.Context, contactID int64, o PrefOrigin) (PrefChange, error) {
	return s.changePrefs(ctx, contactID, o, EventResubscribed, func(_ *dbsqlc.Queries, _ outreach.Contact, p *Prefs, _ time.Time) error {
		if !outreach.CanResubscribe(p.Status, p.Suppression) {
			return outreach.Errorf(outreach.ECONFLICT, "this address cannot be resubscribed by its owner")
		}
		p.Status = outreach.StatusActive
		p.Suppression = ""
		return nil
	})
}

// changePrefs runs one change under the contact's row lock: it reads the
// contact and their suppression, lets apply edit a copy, and, only if
// something differs, writes the contact, the suppression, a timeline event
// and an audit entry, all in the same transaction.
func (s *Store) changePrefs(ctx context.Context, contactID int64, o PrefOrigin, kind string,
	apply func(q *dbsqlc.Queries, c outreach.Contact, p *Prefs, now time.Time) error) (PrefChange, error) {
	now := s.clock.Now()
	var out PrefChange
	err := s.InTx(ctx, func(tx *Tx) error {
		q := tx.q
		row, err := q.PrefsLockContact(ctx, contactID)
		if err != nil {
			return err
		}
		c := contactFromRow(row)
		if c.Status == outreach.StatusErased {
			// Erased: there is no one left whose preferences these are.
			return outreach.Errorf(outreach.ENOTFOUND, "no such contact")
		}
		hash := EmailHash(c.Email)
		sup, err := q.PrefsSuppression(ctx, hash)
		if err != nil {
			return err
		}
		before := Prefs{Status: c.Status, PreferredTier: c.PreferredTier, TopicsOptedOut: normalizeTopics(c.TopicsOptedOut),
			PausedUntil: c.PausedUntil, Suppression: outreach.SuppressionReason(sup)}
		after := before
		after.TopicsOptedOut = slices.Clone(before.TopicsOptedOut)
		if err := apply(q, c, &after, now); err != nil {
			return err
		}
		out = PrefChange{Contact: c, Before: before, After: after, Changed: !before.equal(after)}
		if !out.Changed {
			return nil
		}
		err = q.PrefsUpdateContact(ctx, dbsqlc.PrefsUpdateContactParams{ID: c.ID, Status: string(after.Status),
			PreferredTier: nilIfEmpty(after.PreferredTier), TopicsOptedOut: after.TopicsOptedOut, PausedUntil: after.PausedUntil, Now: now})
		if err != nil {
			return err
		}
		switch {
		case before.Suppression == "" && after.Suppression == outreach.SuppressUnsubscribe:
			email := c.Email
			err = q.SuppressionInsert(ctx, dbsqlc.SuppressionInsertParams{EmailHash: hash, Email: &email, Reason: string(after.Suppression), Now: now})
		case before.Suppression == outreach.SuppressUnsubscribe && after.Suppression == "":
			_, err = q.PrefsDeleteUnsubscribe(ctx, hash)
		}
		if err != nil {
			return err
		}
		c.Status, c.PreferredTier, c.TopicsOptedOut, c.PausedUntil = after.Status, after.PreferredTier, after.TopicsOptedOut, after.PausedUntil
		c.UpdatedAt = now
		out.Contact = c
		detail := map[string]any{"before": before, "after": after}
		if o.CampaignID != 0 {
			detail["campaign_id"] = o.CampaignID
		}
		if err := tx.contactEvent(ctx, c.ID, kind, o.Actor, detail); err != nil {
			return err
		}
		if err := tx.Audit(ctx, o.Actor, kind, "contact", itoa(c.ID), before, after); err != nil {
			return err
		}
		typ := EventContactPreferencesChanged
		switch kind {
		case EventUnsubscribed:
			typ = EventContactUnsubscribed
		case EventResubscribed:
			typ = EventContactResubscribed
		}
		return tx.emit(ctx, typ, contactKey(c.ID), c.ID, map[string]any{"contact_id": c.ID, "email": c.Email,
			"external_id": nilIfEmpty(c.ExternalID), "change": kind, "actor": o.Actor, "before": before, "after": after,
			"campaign_id": o.CampaignID})
	})
	if err != nil {
		return PrefChange{}, mapError("change preferences", err)
	}
	return out, nil
}

// normalizeTopics sorts and de-duplicates topic keys, so that the same set
// always compares (and is stored) the same way.
func normalizeTopics(keys []string) []string {
	out := slices.Clone(keys)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
