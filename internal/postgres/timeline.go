package postgres

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// TimelineItem is one line of a contact's timeline: a delivery and its
// decision, or a preference event.
type TimelineItem struct {
	Kind       string // "delivery" or "event"
	ID         int64
	CampaignID *int64
	// CampaignName is the delivery's campaign's name.
	CampaignName string
	State        string
	Reason       string
	Rule         string
	PlannedFor   *time.Time
	SentAt       *time.Time
	At           time.Time
	Event        string
	Detail       json.RawMessage
	Actor        string
}

// TimelineCursor is where a timeline page continues.
type TimelineCursor struct {
	At   time.Time
	Kind string
	ID   int64
}

// Timeline lists a contact's deliveries and events, newest first.
func (s *Store) Timeline(ctx context.Context, contactID int64, after *TimelineCursor, limit int) ([]TimelineItem, error) {
	if _, err := s.Contact(ctx, contactID); err != nil {
		return nil, err
	}
	p := dbsqlc.TimelineParams{ContactID: contactID, BeforeAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), BeforeKind: "~", BeforeID: math.MaxInt64, Lim: int32(limit)}
	if after != nil {
		p.BeforeAt, p.BeforeKind, p.BeforeID = after.At, after.Kind, after.ID
	}
	rows, err := s.q.Timeline(ctx, p)
	if err != nil {
		return nil, mapError("timeline", err)
	}
	out := make([]TimelineItem, len(rows))
	for i, r := range rows {
		out[i] = TimelineItem{Kind: r.Kind, ID: r.ID, CampaignName: r.CampaignName, State: r.State, Reason: r.Reason, Rule: r.Rule,
			SentAt: r.SentAt, At: r.At, Event: r.Event, Detail: r.Detail, Actor: r.Actor}
		if r.Kind == "delivery" {
			campaign, planned := r.CampaignID, r.PlannedFor
			out[i].CampaignID, out[i].PlannedFor = &campaign, &planned
		}
	}
	return out, nil
}

// Overdue lists active contacts past their effective tier's target
// interval, in id order after afterID.
func (s *Store) Overdue(ctx context.Context, afterID int64, limit int) ([]outreach.Contact, error) {
	return s.OverdueContacts(ctx, OverdueFilter{AfterID: afterID, Limit: limit})
}

// OverdueFilter narrows the overdue list.
type OverdueFilter struct {
	// Tier keeps contacts assigned this tier; "" keeps all.
	Tier    string
	AfterID int64
	// ThroughID, when positive, ends the scan at this contact id: overdue
	// contacts are found by reading every active contact in id order (no
	// index can hold "overdue", which changes with the clock and every
	// send), so a page that must answer quickly bounds the ids it reads.
	ThroughID int64
	Limit     int
}

// OverdueContacts lists active contacts past their effective tier's
// target interval, in id order, within f's id range.
func (s *Store) OverdueContacts(ctx context.Context, f OverdueFilter) ([]outreach.Contact, error) {
	tiers, err := s.Tiers(ctx)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	var p dbsqlc.OverdueContactsParams
	p.Keys, p.Ranks, p.Cutoffs = overdueRules(tiers, now)
	if len(p.Keys) == 0 {
		return nil, nil
	}
	p.AfterID, p.ThroughID, p.Tier, p.Lim = f.AfterID, f.ThroughID, nilIfEmpty(f.Tier), int32(f.Limit)
	if p.ThroughID <= 0 {
		p.ThroughID = math.MaxInt64
	}
	rows, err := s.q.OverdueContacts(ctx, p)
	if err != nil {
		return nil, mapError("overdue contacts", err)
	}
	return contactsFromRows(rows), nil
}

// overdueRules are the tiers with a target interval, as the overdue
// queries take them: key, rank and the cutoff before which a contact's
// last message makes them overdue. One place, so the overdue list and the
// dashboard's counts use the same cutoffs.
func overdueRules(tiers []outreach.Tier, now time.Time) (keys []string, ranks []int32, cutoffs []time.Time) {
	for _, t := range tiers {
		if t.Rule.TargetInterval <= 0 {
			continue
		}
		keys = append(keys, t.Key)
		ranks = append(ranks, int32(t.Rank))
		cutoffs = append(cutoffs, now.Add(-t.Rule.TargetInterval))
	}
	return keys, ranks, cutoffs
}
