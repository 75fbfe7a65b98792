package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// InstallationID is this installation's random id, made once on first use
// and kept: it makes Message-IDs unique across installations.
func (s *Store) InstallationID(ctx context.Context) (string, error) {
	var b [5]byte
	_, _ = rand.Read(b[:])
	id := strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
	v, err := s.q.SettingInit(ctx, dbsqlc.SettingInitParams{Key: "installation_id", Value: id, Now: s.clock.Now()})
	return v, mapError("installation id", err)
}

// Feedback kinds: what a mailbox provider said about mail it was handed.
const (
	FeedbackHardBounce = "hard_bounce"
	FeedbackSoftBounce = "soft_bounce"
	FeedbackComplaint  = "complaint"
)

// Feedback is one bounce or complaint report, from any source: a bounce
// message, a provider's webhook, the API.
type Feedback struct {
	Kind   string // FeedbackHardBounce, FeedbackSoftBounce or FeedbackComplaint
	Source string // "dsn", "ses", "sendgrid", "postmark", "mailgun", "api"
	// EventID is the source's id of the report; a report seen before is
	// not applied again. Empty: no such id (never deduplicated).
	EventID string
	// DeliveryID is the delivery the report is about (0: unknown); Email
	// is then its contact's address.
	DeliveryID int64
	Email      string
	Detail     string // status and diagnostic, for the timeline
}

// FeedbackResult says what applying a report did.
type FeedbackResult struct {
	Duplicate  bool                       // seen before: nothing done
	Suppressed outreach.SuppressionReason // "" when the address is not (yet) suppressed
	SoftCount  int                        // soft bounces counted in the window
}

// DeliveryRecipient is the address a delivery went to.
type DeliveryRecipient struct {
	DeliveryID, CampaignID, ContactID int64
	State                             outreach.DeliveryState
	Email                             string
}

// DeliveryRecipient returns who a delivery went to; ENOTFOUND when there
// is no such delivery.
func (s *Store) DeliveryRecipient(ctx context.Context, id int64) (DeliveryRecipient, error) {
	r, err := s.q.DeliveryRecipient(ctx, id)
	if err != nil {
		return DeliveryRecipient{}, mapError("delivery", err)
	}
	return DeliveryRecipient{DeliveryID: r.ID, CampaignID: r.CampaignID, ContactID: r.ContactID,
		State: outreach.DeliveryState(r.State), Email: r.Email}, nil
}

// RecordFeedback applies a bounce or complaint report through the one
// suppression path, in one transaction: the delivery's feedback (when the
// report names it), then for a hard bounce or a complaint the suppression
// (Tx.Suppress: suppression, status, timeline event, audit); a soft bounce
// is counted, and the softLimit-th within window suppresses like a hard
// bounce. A report whose (Source, EventID) was applied before changes
// nothing.
func (s *Store) RecordFeedback(ctx context.Context, f Feedback, softLimit int, window time.Duration) (FeedbackResult, error) {
	e, ok := outreach.NormalizeEmail(f.Email)
	if !ok {
		return FeedbackResult{}, outreach.Invalid(outreach.FieldError{Field: "email", Message: "must be a valid email address"})
	}
	switch f.Kind {
	case FeedbackHardBounce, FeedbackSoftBounce, FeedbackComplaint:
	default:
		return FeedbackResult{}, outreach.Invalid(outreach.FieldError{Field: "type", Message: "must be hard_bounce, soft_bounce or complaint"})
	}
	var out FeedbackResult
	err := s.InTx(ctx, func(tx *Tx) error {
		now := tx.Now()
		if f.EventID != "" {
			_, err := tx.q.InboundEventClaim(ctx, dbsqlc.InboundEventClaimParams{Source: f.Source, EventID: f.EventID, Kind: f.Kind, Now: now})
			if errors.Is(err, pgx.ErrNoRows) {
				out.Duplicate = true
				return nil
			}
			if err != nil {
				return err
			}
		}
		if f.DeliveryID != 0 {
			changed, err := tx.q.DeliveryFeedback(ctx, dbsqlc.DeliveryFeedbackParams{ID: f.DeliveryID, Feedback: &f.Kind, Now: now})
			if err != nil {
				return err
			}
			typ := EventDeliveryBounced
			if f.Kind == FeedbackComplaint {
				typ = EventDeliveryComplained
			}
			// Keyed by the contact, so the CRM sees the bounce before the
			// suppression it causes.
			for _, cid := range changed {
				if err := tx.emit(ctx, typ, contactKey(cid), cid, map[string]any{"delivery_id": f.DeliveryID, "contact_id": cid,
					"email": e, "kind": f.Kind, "source": f.Source, "detail": f.Detail}); err != nil {
					return err
				}
			}
		}
		detail := map[string]any{"source": f.Source, "type": f.Kind}
		if f.DeliveryID != 0 {
			detail["delivery_id"] = f.DeliveryID
		}
		if f.Detail != "" {
			detail["detail"] = f.Detail
		}
		reason := outreach.SuppressBounce
		switch f.Kind {
		case FeedbackComplaint:
			reason = outreach.SuppressComplaint
		case FeedbackSoftBounce:
			contact, err := tx.q.ContactByEmailForUpdate(ctx, e)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // nobody to count for; nothing to send to either
			}
			if err != nil {
				return err
			}
			n, err := tx.q.ContactSoftBounce(ctx, dbsqlc.ContactSoftBounceParams{ID: contact.ID, WindowStart: now.Add(-window), Now: now})
			if err != nil {
				return err
			}
			out.SoftCount = int(n)
			detail["count"] = n
			if err := tx.contactEvent(ctx, contact.ID, "soft_bounce", f.Source, detail); err != nil {
				return err
			}
			if int(n) < softLimit {
				return nil
			}
		}
		out.Suppressed = reason
		_, err := tx.Suppress(ctx, f.Source, e, reason, detail)
		return err
	})
	return out, mapError("record feedback", err)
}
