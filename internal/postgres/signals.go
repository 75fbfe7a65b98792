package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/rapport-dev/rapport/internal/insight"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// Signal is something the company knows about a contact: a purchase, a
// reply, a meeting, a support ticket.
type Signal struct {
	ID        int64
	ContactID int64
	Type      string
	At        time.Time
	Detail    string
	Actor     string
	CreatedAt time.Time
}

// AddSignal records a signal for a contact and puts it on their timeline.
// An unknown type, a time in the future (by the store's clock) or a detail
// over 1,000 characters is an EINVALID error naming the field, and nothing
// is written; an unknown contact is ENOTFOUND.
func (s *Store) AddSignal(ctx context.Context, actor string, sig Signal) (Signal, error) {
	now := s.clock.Now()
	var errs []outreach.FieldError
	if !insight.ValidSignalType(sig.Type) {
		errs = append(errs, outreach.FieldError{Field: "type", Message: "must be one of " + strings.Join(insight.SignalTypes, ", ")})
	}
	switch {
	case sig.At.IsZero():
		errs = append(errs, outreach.FieldError{Field: "at", Message: "is required (RFC 3339, e.g. 2026-11-20T10:00:00Z)"})
	case sig.At.After(now):
		errs = append(errs, outreach.FieldError{Field: "at", Message: "must not be in the future"})
	}
	if len(sig.Detail) > 1000 {
		errs = append(errs, outreach.FieldError{Field: "detail", Message: "must be at most 1000 characters"})
	}
	if len(errs) > 0 {
		return Signal{}, outreach.Invalid(errs...)
	}
	var out Signal
	err := s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.q.ContactGetForUpdate(ctx, sig.ContactID); err != nil {
			return err
		}
		r, err := tx.q.SignalInsert(ctx, dbsqlc.SignalInsertParams{ContactID: sig.ContactID, Type: sig.Type, At: sig.At.UTC(),
			Detail: sig.Detail, Actor: actor, Now: now})
		if err != nil {
			return err
		}
		out = Signal{ID: r.ID, ContactID: r.ContactID, Type: r.Type, At: r.At, Detail: r.Detail, Actor: r.Actor, CreatedAt: r.CreatedAt}
		return tx.contactEvent(ctx, sig.ContactID, "signal", actor, map[string]any{"signal_id": r.ID, "type": r.Type, "at": r.At, "detail": r.Detail})
	})
	return out, mapError("contact", err)
}
