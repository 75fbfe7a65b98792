package postgres

import (
	"context"
	"time"

	"github.com/rapport-dev/rapport/internal/insight"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// DriftThresholds returns every tier's drift thresholds: its own where an
// admin set them, insight.DefaultThresholds otherwise.
func (s *Store) DriftThresholds(ctx context.Context) (map[string]insight.Thresholds, error) {
	tiers, err := s.q.TierList(ctx)
	if err != nil {
		return nil, mapError("drift thresholds", err)
	}
	rows, err := s.q.DriftThresholdList(ctx)
	if err != nil {
		return nil, mapError("drift thresholds", err)
	}
	out := make(map[string]insight.Thresholds, len(tiers))
	for _, t := range tiers {
		out[t.Key] = insight.DefaultThresholds()
	}
	for _, r := range rows {
		out[r.Tier] = thresholdsFromRow(r)
	}
	return out, nil
}

func thresholdsFromRow(r dbsqlc.DriftThreshold) insight.Thresholds {
	sec := func(n int64) time.Duration { return time.Duration(n) * time.Second }
	return insight.Thresholds{PreferenceAge: sec(r.PreferenceAge), Pauses: int(r.Pauses), PauseWindow: sec(r.PauseWindow),
		OptOuts: int(r.OptOuts), OptOutWindow: sec(r.OptOutWindow), OverdueFactor: r.OverdueFactor,
		CloserSignals: int(r.CloserSignals), CloserWindow: sec(r.CloserWindow)}
}

// SetDriftThresholds replaces a tier's drift thresholds, audited with the
// before and after. An unknown tier is ENOTFOUND; invalid thresholds are
// EINVALID, and nothing is written.
func (s *Store) SetDriftThresholds(ctx context.Context, actor, tier string, th insight.Thresholds) (insight.Thresholds, error) {
	if probs := th.Validate(); len(probs) > 0 {
		errs := make([]outreach.FieldError, len(probs))
		for i, p := range probs {
			errs[i] = outreach.FieldError{Field: p.Field, Message: p.Message}
		}
		return insight.Thresholds{}, outreach.Invalid(errs...)
	}
	all, err := s.DriftThresholds(ctx)
	if err != nil {
		return insight.Thresholds{}, err
	}
	err = s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.q.TierGetForUpdate(ctx, tier); err != nil {
			return err
		}
		sec := func(d time.Duration) int64 { return int64(d / time.Second) }
		if err := tx.q.DriftThresholdUpsert(ctx, dbsqlc.DriftThresholdUpsertParams{Tier: tier, PreferenceAge: sec(th.PreferenceAge),
			Pauses: int32(th.Pauses), PauseWindow: sec(th.PauseWindow), OptOuts: int32(th.OptOuts), OptOutWindow: sec(th.OptOutWindow),
			OverdueFactor: th.OverdueFactor, CloserSignals: int32(th.CloserSignals), CloserWindow: sec(th.CloserWindow), Now: tx.Now()}); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, "update", "drift_thresholds", tier, all[tier], th)
	})
	return th, mapError("tier "+tier, err)
}

// DriftQuery selects a page of drift candidates.
type DriftQuery struct {
	Tier    string // "" for every tier
	AfterID int64
	Limit   int
	// Since is how far back signals, pauses and opt-outs are read (the
	// longest rule window).
	Since time.Time
	// Overdue maps a tier to the moment before which a last message makes
	// its contacts candidates (now − factor × target).
	Overdue map[string]time.Time
}

// DriftCandidate is a contact a drift rule could fire for, with what the
// rules read and the fingerprints of suggestions already decided.
type DriftCandidate struct {
	Contact outreach.Contact
	Input   insight.DriftInput
	Decided map[string]bool
}

// DriftCandidates returns a page of candidates in contact id order
// (active contacts with a preferred tier, a recent signal, pause or topic
// opt-out, or overdue). Pauses and opt-outs come from the insight ledger,
// so they are as fresh as the last rollup.
func (s *Store) DriftCandidates(ctx context.Context, dq DriftQuery) ([]DriftCandidate, error) {
	p := dbsqlc.DriftCandidatesParams{AfterID: dq.AfterID, Tier: dq.Tier, Since: dq.Since, Lim: int32(dq.Limit),
		Keys: []string{}, Cutoffs: []time.Time{}}
	for k, t := range dq.Overdue {
		p.Keys, p.Cutoffs = append(p.Keys, k), append(p.Cutoffs, t)
	}
	rows, err := s.q.DriftCandidates(ctx, p)
	if err != nil {
		return nil, mapError("drift candidates", err)
	}
	return s.driftInputs(ctx, contactsFromRows(rows), dq.Since)
}

// DriftCandidate returns one contact with what the drift rules read.
func (s *Store) DriftCandidate(ctx context.Context, contactID int64, since time.Time) (DriftCandidate, error) {
	c, err := s.Contact(ctx, contactID)
	if err != nil {
		return DriftCandidate{}, err
	}
	out, err := s.driftInputs(ctx, []outreach.Contact{c}, since)
	if err != nil {
		return DriftCandidate{}, err
	}
	return out[0], nil
}

func (s *Store) driftInputs(ctx context.Context, contacts []outreach.Contact, since time.Time) ([]DriftCandidate, error) {
	if len(contacts) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(contacts))
	byID := make(map[int64]*DriftCandidate, len(contacts))
	out := make([]DriftCandidate, len(contacts))
	lastSent, err := s.LastSent(ctx, contacts)
	if err != nil {
		return nil, err
	}
	for i, c := range contacts {
		ids[i] = c.ID
		out[i] = DriftCandidate{Contact: c, Decided: map[string]bool{}, Input: insight.DriftInput{ContactID: c.ID, Assigned: c.Tier,
			Preferred: c.PreferredTier, Created: c.CreatedAt, LastSent: lastSent[c.ID]}}
		byID[c.ID] = &out[i]
	}
	sigs, err := s.q.DriftSignals(ctx, dbsqlc.DriftSignalsParams{Ids: ids, Since: since})
	if err != nil {
		return nil, mapError("drift signals", err)
	}
	for _, r := range sigs {
		in := &byID[r.ContactID].Input
		in.Signals = append(in.Signals, insight.Fact{Kind: r.Type, ID: r.ID, At: r.At})
	}
	led, err := s.q.DriftLedger(ctx, dbsqlc.DriftLedgerParams{Ids: ids, Since: since})
	if err != nil {
		return nil, mapError("drift events", err)
	}
	for _, r := range led {
		in := &byID[r.ContactID].Input
		f := insight.Fact{Kind: r.Kind, ID: r.EventID, At: r.At}
		if r.Kind == string(insight.Pause) {
			in.Pauses = append(in.Pauses, f)
			continue
		}
		for range r.N {
			in.OptOuts = append(in.OptOuts, f)
		}
	}
	chose, err := s.q.DriftPreferenceChosen(ctx, ids)
	if err != nil {
		return nil, mapError("drift preferences", err)
	}
	for _, r := range chose {
		byID[r.ContactID].Input.ChoseAt = r.CreatedAt
	}
	dec, err := s.q.DriftDecided(ctx, ids)
	if err != nil {
		return nil, mapError("drift decisions", err)
	}
	for _, r := range dec {
		byID[r.ContactID].Decided[r.Fingerprint] = true
	}
	return out, nil
}

// LastSent reads when the contacts last received marketing mail, by
// contact id; a contact never sent to has no entry. It lives beside the
// contact (contact_last_sent, migration 00015), so that the send path's
// update of it does not rewrite the contact row.
func (s *Store) LastSent(ctx context.Context, contacts []outreach.Contact) (map[int64]*time.Time, error) {
	ids := make([]int64, len(contacts))
	for i, c := range contacts {
		ids[i] = c.ID
	}
	rows, err := s.q.ContactsLastSent(ctx, ids)
	if err != nil {
		return nil, mapError("last sent", err)
	}
	out := make(map[int64]*time.Time, len(rows))
	for _, r := range rows {
		t := r.LastSentAt
		out[r.ContactID] = &t
	}
	return out, nil
}

// DecideDrift records an admin's decision on a suggestion. Accepting moves
// the contact to the suggested tier through the contact update path (row
// lock, checks, timeline) with a drift_accepted event carrying the
// evidence, and an audit entry; dismissing writes a drift_dismissed event
// and an audit entry. Either way the fingerprint is kept, so the same
// evidence is not suggested again.
func (s *Store) DecideDrift(ctx context.Context, actor string, sug insight.Suggestion, accept bool) (outreach.Contact, error) {
	var out outreach.Contact
	decision, kind := "dismissed", "drift_dismissed"
	if accept {
		decision, kind = "accepted", "drift_accepted"
	}
	detail := map[string]any{"from": sug.From, "to": sug.To, "toward": sug.Toward, "confidence": sug.Confidence,
		"evidence": sug.Evidence, "fingerprint": sug.Fingerprint}
	err := s.InTx(ctx, func(tx *Tx) error {
		var before outreach.Contact
		var err error
		if accept {
			out, before, err = tx.updateContact(ctx, actor, sug.ContactID, func(c *outreach.Contact) error {
				if c.Tier != sug.From {
					return outreach.Errorf(outreach.ECONFLICT, "the contact's tier is %s now, not %s: look at the suggestion again", c.Tier, sug.From)
				}
				c.Tier = sug.To
				return nil
			}, kind, func(_, _ outreach.Contact) any { return detail })
			if err != nil {
				return err
			}
		} else {
			row, err := tx.q.ContactGetForUpdate(ctx, sug.ContactID)
			if err != nil {
				return err
			}
			out = contactFromRow(row)
			before = out
			if err := tx.contactEvent(ctx, sug.ContactID, kind, actor, detail); err != nil {
				return err
			}
		}
		if err := tx.q.DriftDecisionInsert(ctx, dbsqlc.DriftDecisionInsertParams{ContactID: sug.ContactID, Fingerprint: sug.Fingerprint,
			Decision: decision, FromTier: sug.From, ToTier: sug.To, Actor: actor, Now: tx.Now()}); err != nil {
			return err
		}
		return tx.Audit(ctx, actor, "drift_"+decision[:len(decision)-2], "contact", itoa(sug.ContactID),
			map[string]any{"tier": before.Tier}, map[string]any{"tier": out.Tier, "suggestion": detail})
	})
	return out, mapError("contact", err)
}
