package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// Suppression is an address that must not be mailed. Email is empty when
// the contact was erased: only the hash remains.
type Suppression struct {
	ID        int64
	Email     string
	Reason    outreach.SuppressionReason
	CreatedAt time.Time
}

// EmailHash keys the suppressions table: SHA-256 of the lower-cased
// address, so an erased contact stays suppressed with no address kept.
func EmailHash(email string) []byte {
	h := sha256.Sum256([]byte(strings.ToLower(email)))
	return h[:]
}

// Suppressions lists suppressions in id order after afterID.
func (s *Store) Suppressions(ctx context.Context, afterID int64, limit int) ([]Suppression, error) {
	rows, err := s.q.SuppressionList(ctx, dbsqlc.SuppressionListParams{AfterID: afterID, Lim: int32(limit)})
	if err != nil {
		return nil, mapError("list suppressions", err)
	}
	out := make([]Suppression, len(rows))
	for i, r := range rows {
		out[i] = Suppression{ID: r.ID, Email: deref(r.Email), Reason: outreach.SuppressionReason(r.Reason), CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// SuppressionOf returns the suppression reason on an address, "" if none.
func (s *Store) SuppressionOf(ctx context.Context, email string) (outreach.SuppressionReason, error) {
	r, err := s.q.PrefsSuppression(ctx, EmailHash(email))
	if err != nil {
		return "", mapError("suppression", err)
	}
	return outreach.SuppressionReason(r), nil
}

// Suppress adds a suppression for an address in its own transaction (see
// Tx.Suppress). It reports whether the suppression is new.
func (s *Store) Suppress(ctx context.Context, actor, email string, reason outreach.SuppressionReason) (bool, error) {
	var inserted bool
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		inserted, err = tx.Suppress(ctx, actor, email, reason, nil)
		return err
	})
	return inserted, mapError("suppress", err)
}

// Suppress is the one way an address becomes suppressed, whatever the
// cause: an admin or marketer through the API, a provider's webhook, a
// 5xx at send time, a complaint, the soft-bounce limit, erasure. In the
// transaction it writes the suppression, the contact's status, an event
// on the contact's timeline and an audit entry, under the contact's row
// lock (the lock every change the send check must honour takes; the send
// path calls it in the transaction that already holds it). detail adds
// facts to the timeline event (the delivery, the server's answer).
//
// It is idempotent: an address already suppressed for this reason whose
// contact already has the matching status writes nothing again, so a
// provider's retry or a re-run after a crash leaves one event. It reports
// whether the suppression is new.
//
// Erasure (SuppressErased) keeps no address: the suppression is the hash
// alone, an existing suppression keeps its reason, and neither the event
// nor the audit entry names the address (the erasure removes the timeline
// it would have gone on).
func (t *Tx) Suppress(ctx context.Context, actor, email string, reason outreach.SuppressionReason, detail map[string]any) (bool, error) {
	e, ok := outreach.NormalizeEmail(email)
	if !ok && reason != outreach.SuppressErased {
		return false, outreach.Invalid(outreach.FieldError{Field: "email", Message: "must be a valid email address"})
	}
	if !ok {
		e = strings.ToLower(strings.TrimSpace(email))
	}
	contact, err := t.q.ContactByEmailForUpdate(ctx, e)
	hasContact := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, mapError("suppress", err)
	}
	prev, err := t.q.PrefsSuppression(ctx, EmailHash(e))
	if err != nil {
		return false, mapError("suppress", err)
	}
	if reason == outreach.SuppressErased {
		err := t.q.SuppressionErase(ctx, dbsqlc.SuppressionEraseParams{EmailHash: EmailHash(e), Now: t.Now()})
		if err != nil {
			return false, mapError("suppress", err)
		}
		return prev == "", t.Audit(ctx, actor, "suppress", "suppression", "erased", nil, map[string]any{"reason": reason})
	}
	before := outreach.ContactStatus(contact.Status)
	after := outreach.StatusFor(reason)
	if prev == string(reason) && (!hasContact || before == after) {
		return false, nil // already so: a retry
	}
	now := t.Now()
	row, err := t.q.SuppressionAdd(ctx, dbsqlc.SuppressionAddParams{EmailHash: EmailHash(e), Email: &e, Reason: string(reason), Now: now})
	if err != nil {
		return false, mapError("suppress", err)
	}
	if hasContact {
		if before != after {
			if err := t.q.ContactSetStatus(ctx, dbsqlc.ContactSetStatusParams{ID: contact.ID, Status: string(after), Now: now}); err != nil {
				return false, mapError("suppress", err)
			}
		}
		ev := map[string]any{"reason": reason, "before": map[string]any{"status": before}, "after": map[string]any{"status": after}}
		for k, v := range detail {
			ev[k] = v
		}
		if err := t.contactEvent(ctx, contact.ID, "suppressed", actor, ev); err != nil {
			return false, err
		}
	}
	if err := t.Audit(ctx, actor, "suppress", "suppression", e, nil, map[string]any{"email": e, "reason": reason}); err != nil {
		return false, err
	}
	data := map[string]any{"email": e, "reason": reason, "source": actor, "contact_id": nil}
	var cid int64
	key := "email:" + e
	if hasContact {
		cid, key = contact.ID, contactKey(contact.ID)
		data["contact_id"], data["external_id"] = contact.ID, contact.ExternalID
	}
	return row.Inserted, t.emit(ctx, EventContactSuppressed, key, cid, data)
}

// Unsuppress removes an address's suppression and makes its contact active
// again when the suppression was what kept them from mail.
func (s *Store) Unsuppress(ctx context.Context, actor, email string) error {
	e, ok := outreach.NormalizeEmail(email)
	if !ok {
		return outreach.Errorf(outreach.ENOTFOUND, "no suppression for that address")
	}
	err := s.InTx(ctx, func(tx *Tx) error {
		q := tx.q
		contact, err := q.ContactByEmailForUpdate(ctx, e)
		hasContact := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		reason, err := q.SuppressionDelete(ctx, EmailHash(e))
		if err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return outreach.Errorf(outreach.ENOTFOUND, "no suppression for that address")
			}
			return err
		}
		if hasContact && contact.Status == string(outreach.StatusFor(outreach.SuppressionReason(reason))) {
			if err := q.ContactSetStatus(ctx, dbsqlc.ContactSetStatusParams{ID: contact.ID, Status: string(outreach.StatusActive), Now: tx.Now()}); err != nil {
				return err
			}
			detail := map[string]any{"reason": reason, "before": map[string]any{"status": contact.Status}, "after": map[string]any{"status": "active"}}
			if err := tx.contactEvent(ctx, contact.ID, "unsuppressed", actor, detail); err != nil {
				return err
			}
			// Mailable again: for the CRM, a resubscription.
			if err := tx.emit(ctx, EventContactResubscribed, contactKey(contact.ID), contact.ID, map[string]any{
				"contact_id": contact.ID, "email": e, "external_id": contact.ExternalID, "change": "unsuppressed",
				"actor": actor, "reason": reason}); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, actor, "unsuppress", "suppression", e, map[string]any{"email": e, "reason": reason}, nil)
	})
	return mapError("unsuppress", err)
}

// BounceEvent applies a report from the generic events webhook (POST
// /api/v1/events): RecordFeedback from source "webhook", without an event
// id. It reports the resulting suppression reason, or "" when the address
// is not (yet) suppressed.
func (s *Store) BounceEvent(ctx context.Context, kind, email string, softLimit int, window time.Duration) (outreach.SuppressionReason, error) {
	r, err := s.RecordFeedback(ctx, Feedback{Kind: kind, Source: "webhook", Email: email}, softLimit, window)
	return r.Suppressed, err
}

// SuppressionsNewest lists suppressions newest first, before beforeID (0:
// from the newest), for people reading the latest ones.
func (s *Store) SuppressionsNewest(ctx context.Context, beforeID int64, limit int) ([]Suppression, error) {
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	rows, err := s.q.SuppressionListNewest(ctx, dbsqlc.SuppressionListNewestParams{BeforeID: beforeID, Lim: int32(limit)})
	if err != nil {
		return nil, mapError("list suppressions", err)
	}
	out := make([]Suppression, len(rows))
	for i, r := range rows {
		out[i] = Suppression{ID: r.ID, Email: deref(r.Email), Reason: outreach.SuppressionReason(r.Reason), CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// SuppressionByEmail finds the suppression on an address (in any case)
// through its hash; ENOTFOUND when there is none.
func (s *Store) SuppressionByEmail(ctx context.Context, email string) (Suppression, error) {
	r, err := s.q.SuppressionByHash(ctx, EmailHash(strings.TrimSpace(email)))
	if err != nil {
		return Suppression{}, mapError("suppression", err)
	}
	return Suppression{ID: r.ID, Email: deref(r.Email), Reason: outreach.SuppressionReason(r.Reason), CreatedAt: r.CreatedAt}, nil
}
