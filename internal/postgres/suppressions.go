package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/dbsqlc"
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
// address, so an erased contact stays suppressed with no address kept. The
// planner, the send-time check and every suppression write use it.
func EmailHash(email string) []byte {
	h := sha256.Sum256([]byte(strings.ToLower(email)))
	return h[:]
}

// statusFor is the contact status a suppression reason implies.
func statusFor(r outreach.SuppressionReason) outreach.ContactStatus {
	switch r {
	case outreach.SuppressBounce:
		return outreach.StatusBounced
	case outreach.SuppressComplaint:
		return outreach.StatusComplained
	case outreach.SuppressUnsubscribe, outreach.SuppressManual:
		return outreach.StatusUnsubscribed
	}
	return ""
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

// Suppress adds a suppression for an address and, when a contact has it,
// sets their status to match, records the event and audits it — in one
// transaction that holds the contact's row lock, like every change the send
// check must honour.
func (s *Store) Suppress(ctx context.Context, actor, email string, reason outreach.SuppressionReason) (bool, error) {
	e, ok := outreach.NormalizeEmail(email)
	if !ok {
		return false, outreach.Invalid(outreach.FieldError{Field: "email", Message: "must be a valid email address"})
	}
	var inserted bool
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		inserted, err = suppressTx(ctx, tx, s.clock.Now(), actor, e, reason)
		return err
	})
	return inserted, mapError("suppress", err)
}

func suppressTx(ctx context.Context, tx pgx.Tx, now time.Time, actor, email string, reason outreach.SuppressionReason) (bool, error) {
	q := dbsqlc.New(tx)
	contact, err := q.ContactByEmailForUpdate(ctx, email)
	hasContact := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, err
	}
	row, err := q.SuppressionAdd(ctx, dbsqlc.SuppressionAddParams{EmailHash: EmailHash(email), Email: &email, Reason: string(reason), Now: now})
	if err != nil {
		return false, err
	}
	if hasContact {
		before := contact.Status
		after := string(statusFor(reason))
		if after != "" && before != after {
			if err := q.ContactSetStatus(ctx, dbsqlc.ContactSetStatusParams{ID: contact.ID, Status: after, Now: now}); err != nil {
				return false, err
			}
		}
		detail := map[string]any{"reason": reason, "before": map[string]any{"status": before}, "after": map[string]any{"status": after}}
		if err := contactEvent(ctx, q, now, contact.ID, "suppressed", actor, detail); err != nil {
			return false, err
		}
	}
	return row.Inserted, audit(ctx, tx, now, actor, "suppress", "suppression", email, nil, map[string]any{"email": email, "reason": reason})
}

// Unsuppress removes an address's suppression and makes its contact active
// again when the suppression was what kept them from mail.
func (s *Store) Unsuppress(ctx context.Context, actor, email string) error {
	e, ok := outreach.NormalizeEmail(email)
	if !ok {
		return outreach.Errorf(outreach.ENOTFOUND, "no suppression for that address")
	}
	now := s.clock.Now()
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		q := dbsqlc.New(tx)
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
		if hasContact && contact.Status == string(statusFor(outreach.SuppressionReason(reason))) {
			if err := q.ContactSetStatus(ctx, dbsqlc.ContactSetStatusParams{ID: contact.ID, Status: string(outreach.StatusActive), Now: now}); err != nil {
				return err
			}
			detail := map[string]any{"reason": reason, "before": map[string]any{"status": contact.Status}, "after": map[string]any{"status": "active"}}
			if err := contactEvent(ctx, q, now, contact.ID, "unsuppressed", actor, detail); err != nil {
				return err
			}
		}
		return audit(ctx, tx, now, actor, "unsuppress", "suppression", e, map[string]any{"email": e, "reason": reason}, nil)
	})
	return mapError("unsuppress", err)
}

// BounceEvent applies a provider's bounce or complaint report. Hard bounces
// and complaints suppress at once; soft bounces count, and the limit-th
// within the window suppresses like a hard bounce. It reports the resulting
// suppression reason, or "" when the address is not (yet) suppressed.
func (s *Store) BounceEvent(ctx context.Context, kind, email string, softLimit int, window time.Duration) (outreach.SuppressionReason, error) {
	e, ok := outreach.NormalizeEmail(email)
	if !ok {
		return "", outreach.Invalid(outreach.FieldError{Field: "email", Message: "must be a valid email address"})
	}
	now := s.clock.Now()
	const actor = "webhook"
	var out outreach.SuppressionReason
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		switch kind {
		case "hard_bounce":
			out = outreach.SuppressBounce
		case "complaint":
			out = outreach.SuppressComplaint
		case "soft_bounce":
			q := dbsqlc.New(tx)
			contact, err := q.ContactByEmailForUpdate(ctx, e)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // nobody to count for; nothing to send to either
			}
			if err != nil {
				return err
			}
			n, err := q.ContactSoftBounce(ctx, dbsqlc.ContactSoftBounceParams{ID: contact.ID, WindowStart: now.Add(-window), Now: now})
			if err != nil {
				return err
			}
			if err := contactEvent(ctx, q, now, contact.ID, "soft_bounce", actor, map[string]any{"count": n}); err != nil {
				return err
			}
			if int(n) < softLimit {
				return nil
			}
			out = outreach.SuppressBounce
		default:
			return outreach.Invalid(outreach.FieldError{Field: "type", Message: "must be hard_bounce, soft_bounce or complaint"})
		}
		_, err := suppressTx(ctx, tx, now, actor, e, out)
		return err
	})
	return out, mapError("bounce event", err)
}
