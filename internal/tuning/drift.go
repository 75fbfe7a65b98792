package tuning

import (
	"context"
	"time"

	"github.com/rapport-dev/rapport/internal/insight"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// DriftItem is one contact whose signals diverge from their tier.
type DriftItem struct {
	Contact    outreach.Contact
	Suggestion insight.Suggestion
}

// DriftPage is a page of drift suggestions; NextAfter is the cursor (the
// last contact id looked at), 0 when there is no more.
type DriftPage struct {
	Items     []DriftItem
	NextAfter int64
}

// driftRules is what every drift evaluation needs: the tiers, each tier's
// thresholds, and how far back evidence is read.
type driftRules struct {
	tiers []insight.TierRef
	th    map[string]insight.Thresholds
	since time.Time
	now   time.Time
}

func (s *Service) driftRules(ctx context.Context) (driftRules, error) {
	tiers, err := s.store.Tiers(ctx)
	if err != nil {
		return driftRules{}, err
	}
	th, err := s.store.DriftThresholds(ctx)
	if err != nil {
		return driftRules{}, err
	}
	r := driftRules{th: th, now: s.cfg.Clock.Now()}
	longest := time.Duration(0)
	for _, t := range tiers {
		r.tiers = append(r.tiers, insight.TierRef{Key: t.Key, Rank: t.Rank, TargetInterval: t.Rule.TargetInterval})
		x := th[t.Key]
		longest = max(longest, x.PauseWindow, x.OptOutWindow, x.CloserWindow)
	}
	r.since = r.now.Add(-longest)
	return r, nil
}

// overdue is, per assigned tier, the moment before which a last message
// may make its contacts overdue under any tier they could effectively be
// on (theirs or a stricter one): a superset the rules then narrow.
func (r driftRules) overdue() map[string]time.Time {
	out := map[string]time.Time{}
	for _, a := range r.tiers {
		f := r.th[a.Key].OverdueFactor
		if f <= 0 {
			continue
		}
		var least time.Duration
		for _, t := range r.tiers {
			if t.Rank <= a.Rank && t.TargetInterval > 0 && (least == 0 || t.TargetInterval < least) {
				least = t.TargetInterval
			}
		}
		if least > 0 {
			out[a.Key] = r.now.Add(-time.Duration(f * float64(least)))
		}
	}
	return out
}

func (r driftRules) suggest(c postgres.DriftCandidate) (insight.Suggestion, bool) {
	th, ok := r.th[c.Contact.Tier]
	if !ok {
		return insight.Suggestion{}, false
	}
	sug, ok := insight.Drift(c.Input, r.tiers, th, r.now)
	if !ok || c.Decided[sug.Fingerprint] {
		return insight.Suggestion{}, false
	}
	return sug, true
}

// maxDriftScan bounds how many candidates one page looks at.
const maxDriftScan = 20000

// Drift lists contacts (of a tier, "" for all) whose signals diverge from
// their assigned tier, in id order after afterID, with each suggestion.
// Suggestions an admin accepted or dismissed for the same evidence are
// left out. An unknown tier is EINVALID naming the field.
func (s *Service) Drift(ctx context.Context, tier string, afterID int64, limit int) (DriftPage, error) {
	if err := s.tierKnown(ctx, "tier", tier); err != nil {
		return DriftPage{}, err
	}
	r, err := s.driftRules(ctx)
	if err != nil {
		return DriftPage{}, err
	}
	q := postgres.DriftQuery{Tier: tier, AfterID: afterID, Limit: max(limit, 200), Since: r.since, Overdue: r.overdue()}
	out := DriftPage{Items: []DriftItem{}}
	for scanned := 0; scanned < maxDriftScan; {
		cands, err := s.store.DriftCandidates(ctx, q)
		if err != nil {
			return DriftPage{}, err
		}
		for _, c := range cands {
			scanned++
			q.AfterID = c.Contact.ID
			if sug, ok := r.suggest(c); ok {
				out.Items = append(out.Items, DriftItem{Contact: c.Contact, Suggestion: sug})
				if len(out.Items) == limit {
					out.NextAfter = c.Contact.ID
					return out, nil
				}
			}
		}
		if len(cands) < q.Limit {
			return out, nil
		}
	}
	out.NextAfter = q.AfterID
	return out, nil
}

// Suggestion is the drift suggestion for one contact now, if any.
func (s *Service) Suggestion(ctx context.Context, contactID int64) (DriftItem, bool, error) {
	r, err := s.driftRules(ctx)
	if err != nil {
		return DriftItem{}, false, err
	}
	c, err := s.store.DriftCandidate(ctx, contactID, r.since)
	if err != nil {
		return DriftItem{}, false, err
	}
	sug, ok := r.suggest(c)
	return DriftItem{Contact: c.Contact, Suggestion: sug}, ok, nil
}

// decide finds the suggestion an admin acts on: there must be one, and
// when the caller names a fingerprint (the one it was shown) it must be
// the current one, so nobody accepts evidence that has changed since.
func (s *Service) decide(ctx context.Context, actor string, contactID int64, fingerprint string, accept bool) (DriftItem, error) {
	it, ok, err := s.Suggestion(ctx, contactID)
	if err != nil {
		return DriftItem{}, err
	}
	if !ok {
		return DriftItem{}, outreach.Errorf(outreach.ECONFLICT, "no drift suggestion for contact %d now (none, or already decided for this evidence)", contactID)
	}
	if fingerprint != "" && fingerprint != it.Suggestion.Fingerprint {
		return DriftItem{}, outreach.Errorf(outreach.ECONFLICT, "the evidence changed since fingerprint %s was shown; look at the suggestion again", fingerprint)
	}
	c, err := s.store.DecideDrift(ctx, actor, it.Suggestion, accept)
	if err != nil {
		return DriftItem{}, err
	}
	return DriftItem{Contact: c, Suggestion: it.Suggestion}, nil
}

// AcceptDrift moves the contact to the suggested tier (audited, on the
// timeline). No current suggestion, or a fingerprint that is not the
// current one, is ECONFLICT.
func (s *Service) AcceptDrift(ctx context.Context, actor string, contactID int64, fingerprint string) (DriftItem, error) {
	return s.decide(ctx, actor, contactID, fingerprint, true)
}

// DismissDrift keeps the contact's tier and records the evidence's
// fingerprint, so the same evidence is not suggested again.
func (s *Service) DismissDrift(ctx context.Context, actor string, contactID int64, fingerprint string) (DriftItem, error) {
	return s.decide(ctx, actor, contactID, fingerprint, false)
}

// Thresholds returns every tier's drift thresholds.
func (s *Service) Thresholds(ctx context.Context) (map[string]insight.Thresholds, error) {
	return s.store.DriftThresholds(ctx)
}

// SetThresholds replaces one tier's drift thresholds (audited).
func (s *Service) SetThresholds(ctx context.Context, actor, tier string, th insight.Thresholds) (insight.Thresholds, error) {
	return s.store.SetDriftThresholds(ctx, actor, tier, th)
}

// AddSignal records a company signal about a contact.
func (s *Service) AddSignal(ctx context.Context, actor string, sig postgres.Signal) (postgres.Signal, error) {
	return s.store.AddSignal(ctx, actor, sig)
}
