package postgres

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// HistorySlack is how far a delivery's history_at may lag behind the
// moment it counts at, coalesce(sent_at, planned_for) (migration 00013:
// the trigger keeps coalesce(sent_at, planned_for) <= history_at + 1 day).
// A history read since T therefore reads history_at > T - HistorySlack,
// the recent end of deliveries_history_idx only. It must equal the
// trigger's interval.
const HistorySlack = 24 * time.Hour

// AudienceBatch selects the next batch of a campaign's audience: contacts
// with ids in (After, Max] matching the audience, in id order, with their
// cap history since Since.
type AudienceBatch struct {
	Audience   outreach.Audience
	After, Max int64
	Limit      int
	Since      time.Time
}

// LockAudience locks the batch's contacts (in id order, so planners and
// senders never deadlock) until the transaction ends and returns each with
// what the planner decides on: their cap history and suppression.
func (t *Tx) LockAudience(ctx context.Context, b AudienceBatch) ([]planner.Target, error) {
	a := b.Audience
	attrs, _ := json.Marshal(orEmptyMap(a.Attributes))
	rows, err := t.q.AudienceBatch(ctx, dbsqlc.AudienceBatchParams{
		AfterID: b.After, MaxID: b.Max, Tiers: orEmptySlice(a.Tiers), Topics: orEmptySlice(a.Topics), Attrs: attrs,
		Ids: orEmptyIDs(a.ContactIDs), Lim: int32(b.Limit),
	})
	if err != nil || len(rows) == 0 {
		return nil, mapError("audience", err)
	}
	return t.targets(ctx, rows, b.Since)
}

// AudienceTargets is LockAudience without locks, for a forecast, which
// writes nothing; a zero b.Max means no upper bound.
func (t *Tx) AudienceTargets(ctx context.Context, b AudienceBatch) ([]planner.Target, error) {
	a := b.Audience
	attrs, _ := json.Marshal(orEmptyMap(a.Attributes))
	if b.Max <= 0 {
		b.Max = math.MaxInt64
	}
	rows, err := t.q.AudienceBatchNoLock(ctx, dbsqlc.AudienceBatchNoLockParams{AfterID: b.After, MaxID: b.Max,
		Tiers: orEmptySlice(a.Tiers), Topics: orEmptySlice(a.Topics), Attrs: attrs,
		Ids: orEmptyIDs(a.ContactIDs), Lim: int32(b.Limit)})
	if err != nil || len(rows) == 0 {
		return nil, mapError("audience", err)
	}
	return t.targets(ctx, rows, b.Since)
}

// targets loads the cap history and suppressions of an id-ordered batch of
// contacts: the history in one query, reading each contact's deliveries
// since the moment only (deliveries_history_idx), whatever is older.
func (t *Tx) targets(ctx context.Context, rows []dbsqlc.Contact, since time.Time) ([]planner.Target, error) {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	hist, err := t.q.CapHistory(ctx, dbsqlc.CapHistoryParams{ContactIds: ids, Since: since, HistoryFrom: since.Add(-HistorySlack)})
	if err != nil {
		return nil, mapError("cap history", err)
	}
	contacts := contactsFromRows(rows)
	sups, err := t.suppressionsOf(ctx, contacts)
	if err != nil {
		return nil, err
	}
	byContact := make(map[int64][]dbsqlc.CapHistoryRow, len(rows))
	for _, h := range hist {
		byContact[h.ContactID] = append(byContact[h.ContactID], h)
	}
	out := make([]planner.Target, len(rows))
	for i, c := range contacts {
		tg := planner.Target{Contact: c, Suppression: sups[c.ID]}
		for _, h := range byContact[c.ID] {
			reserved := h.State == string(outreach.DeliveryScheduled)
			tg.History = append(tg.History, cadence.Event{ID: h.ID, At: h.At, Priority: int(h.Priority), Reserved: reserved})
			if reserved {
				if tg.LowerExpiry == nil {
					tg.LowerExpiry = map[int64]time.Time{}
				}
				var exp time.Time
				if h.ExpiresAt != nil {
					exp = *h.ExpiresAt
				}
				tg.LowerExpiry[h.ID] = exp
				if tg.ReservedBy == nil {
					tg.ReservedBy = map[int64]int64{}
				}
				tg.ReservedBy[h.ID] = h.CampaignID
			}
		}
		out[i] = tg
	}
	return out, nil
}

// suppressionsOf looks the contacts' addresses up in the suppressions, in
// one query, by contact id.
func (t *Tx) suppressionsOf(ctx context.Context, contacts []outreach.Contact) (map[int64]outreach.SuppressionReason, error) {
	hashes := make([][]byte, len(contacts))
	byHash := make(map[string]int64, len(contacts))
	for i, c := range contacts {
		hashes[i] = EmailHash(c.Email)
		byHash[string(hashes[i])] = c.ID
	}
	found, err := t.q.SuppressedHashes(ctx, hashes)
	if err != nil {
		return nil, mapError("suppressions", err)
	}
	out := make(map[int64]outreach.SuppressionReason, len(found))
	for _, s := range found {
		out[byHash[string(s.EmailHash)]] = outreach.SuppressionReason(s.Reason)
	}
	return out, nil
}

// CampaignStatusShare reads a campaign's status under a share lock, so a
// pause or cancel waits for the batch being planned, then applies to it
// too.
func (t *Tx) CampaignStatusShare(ctx context.Context, id int64) (outreach.CampaignStatus, error) {
	st, err := t.q.CampaignStatusShare(ctx, id)
	return outreach.CampaignStatus(st), mapError("campaign status", err)
}

// Move re-plans a scheduled delivery to a new moment.
type Move struct {
	ID     int64
	At     time.Time
	Reason outreach.Reason
	Rule   string
}

// End puts a scheduled delivery in a terminal state.
type End struct {
	ID     int64
	State  outreach.DeliveryState
	Reason outreach.Reason
	Rule   string
}

// Plan is what one planning batch decided: the new deliveries (without
// ids; RecordPlan assigns them), and the reserved lower-priority ones the
// batch displaced, moved or skipped as preempted.
type Plan struct {
	Deliveries []outreach.Delivery
	Moved      []Move
	Skipped    []End
}

// RecordPlan writes a planning batch: the displaced deliveries first (one
// statement each for the moved and the skipped), then the new ones by
// COPY, with ids taken from the sequence beforehand so the caller's send
// jobs can carry them. It returns the new deliveries' ids, in order.
func (t *Tx) RecordPlan(ctx context.Context, p Plan) ([]int64, error) {
	if err := t.ReplanDeliveries(ctx, p.Moved); err != nil {
		return nil, err
	}
	if err := t.EndDeliveries(ctx, p.Skipped); err != nil {
		return nil, err
	}
	if len(p.Deliveries) == 0 {
		return nil, nil
	}
	ids, err := t.q.DeliveryIDs(ctx, int32(len(p.Deliveries)))
	if err != nil {
		return nil, mapError("delivery ids", err)
	}
	now := t.Now()
	rows := make([]dbsqlc.DeliveriesCopyParams, len(p.Deliveries))
	for i, d := range p.Deliveries {
		rows[i] = dbsqlc.DeliveriesCopyParams{ID: ids[i], RunID: d.RunID, CampaignID: d.CampaignID, ContactID: d.ContactID,
			Marketing: d.Marketing, Priority: int32(d.Priority), Tier: d.Tier, State: string(d.State), Reason: string(d.Reason),
			Rule: d.Rule, PlannedFor: d.PlannedFor, ExpiresAt: d.ExpiresAt, CreatedAt: now, UpdatedAt: now,
			HistoryAt: d.PlannedFor}
	}
	if _, err := t.q.DeliveriesCopy(ctx, rows); err != nil {
		return nil, mapError("copy deliveries", err)
	}
	return ids, nil
}

// ReplanDeliveries moves scheduled deliveries to new moments, in one
// statement.
func (t *Tx) ReplanDeliveries(ctx context.Context, moves []Move) error {
	if len(moves) == 0 {
		return nil
	}
	p := dbsqlc.DeliveriesReplanManyParams{Now: t.Now()}
	for _, m := range moves {
		p.Ids, p.Planned = append(p.Ids, m.ID), append(p.Planned, m.At)
		p.Reasons, p.Rules = append(p.Reasons, string(m.Reason)), append(p.Rules, m.Rule)
	}
	return mapError("replan deliveries", t.q.DeliveriesReplanMany(ctx, p))
}

// EndDeliveries puts scheduled deliveries in terminal states, in one
// statement. A delivery no longer scheduled is left alone.
func (t *Tx) EndDeliveries(ctx context.Context, ends []End) error {
	if len(ends) == 0 {
		return nil
	}
	p := dbsqlc.EndDeliveriesParams{Now: t.Now()}
	for _, e := range ends {
		p.Ids, p.States = append(p.Ids, e.ID), append(p.States, string(e.State))
		p.Reasons, p.Rules = append(p.Reasons, string(e.Reason)), append(p.Rules, e.Rule)
	}
	return mapError("end deliveries", t.q.EndDeliveries(ctx, p))
}

// Held is a scheduled delivery of a paused campaign, waiting for resume.
type Held struct {
	ID, ContactID int64
	ExpiresAt     *time.Time
}

// HeldDeliveries lists a campaign's scheduled deliveries after an id, for
// re-planning on resume.
func (t *Tx) HeldDeliveries(ctx context.Context, campaignID, afterID int64, limit int) ([]Held, error) {
	rows, err := t.q.HeldDeliveries(ctx, dbsqlc.HeldDeliveriesParams{CampaignID: campaignID, AfterID: afterID, Lim: int32(limit)})
	if err != nil {
		return nil, mapError("held deliveries", err)
	}
	out := make([]Held, len(rows))
	for i, r := range rows {
		out[i] = Held{ID: r.ID, ContactID: r.ContactID, ExpiresAt: r.ExpiresAt}
	}
	return out, nil
}

// ContactCapHistory is one contact's deliveries counting against caps
// (sent, sending, unknown and reserved) since a moment, except one: the
// history a delivery is re-planned against.
func (t *Tx) ContactCapHistory(ctx context.Context, contactID, exceptID int64, since time.Time) ([]cadence.Event, error) {
	rows, err := t.q.ContactCapHistory(ctx, dbsqlc.ContactCapHistoryParams{ContactID: contactID, ExceptID: exceptID, Since: since,
		HistoryFrom: since.Add(-HistorySlack)})
	if err != nil {
		return nil, mapError("contact cap history", err)
	}
	out := make([]cadence.Event, len(rows))
	for i, r := range rows {
		out[i] = cadence.Event{ID: r.ID, At: r.At, Priority: int(r.Priority), Reserved: r.State == string(outreach.DeliveryScheduled)}
	}
	return out, nil
}

func orEmptySlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orEmptyIDs(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
