package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/rapport-dev/rapport/internal/cadence"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// SendItem is one delivery of a send job that may still need work, with
// the address it goes to.
type SendItem struct {
	outreach.Delivery
	// SendJobID is the River job that claimed it ('sending'); 0 for none.
	SendJobID int64
	// Email is the contact's address; empty from Tx.SendRecheck.
	Email string
}

// SendLoad returns a send job's deliveries that are still scheduled or
// sending, ordered by contact.
func (s *Store) SendLoad(ctx context.Context, ids []int64) ([]SendItem, error) {
	rows, err := s.q.SendLoad(ctx, ids)
	return sendItems(rows), mapError("load send batch", err)
}

// SendRecheck is Store.SendLoad as the transaction sees it, after the
// contacts were locked, without the addresses (Email is empty): the
// send-time check has the locked contacts, and a join to contacts was a
// second index probe per delivery for nothing.
func (t *Tx) SendRecheck(ctx context.Context, ids []int64) ([]SendItem, error) {
	rows, err := t.q.SendRecheck(ctx, ids)
	if err != nil {
		return nil, mapError("recheck send batch", err)
	}
	out := make([]SendItem, len(rows))
	for i, r := range rows {
		out[i] = sendItem(dbsqlc.SendLoadRow{ID: r.ID, RunID: r.RunID, CampaignID: r.CampaignID, ContactID: r.ContactID,
			Marketing: r.Marketing, Priority: r.Priority, Tier: r.Tier, State: r.State, PlannedFor: r.PlannedFor,
			ExpiresAt: r.ExpiresAt, Attempts: r.Attempts, SendJobID: r.SendJobID})
	}
	return out, nil
}

func sendItems(rows []dbsqlc.SendLoadRow) []SendItem {
	out := make([]SendItem, len(rows))
	for i, r := range rows {
		out[i] = sendItem(r)
	}
	return out
}

func sendItem(r dbsqlc.SendLoadRow) SendItem {
	it := SendItem{Delivery: outreach.Delivery{ID: r.ID, RunID: r.RunID, CampaignID: r.CampaignID, ContactID: r.ContactID,
		Marketing: r.Marketing, Priority: int(r.Priority), Tier: r.Tier, State: outreach.DeliveryState(r.State),
		PlannedFor: r.PlannedFor, ExpiresAt: r.ExpiresAt, Attempts: int(r.Attempts)}, Email: r.Email}
	if r.SendJobID != nil {
		it.SendJobID = *r.SendJobID
	}
	return it
}

// RetriedRule is the rule of a delivery MarkUnknown marked: the attempt
// that claimed it stopped answering and its job was retried. It is also
// what lets that attempt's late answer be recorded (RecordOutcomes).
const RetriedRule = "claimed by an attempt that stopped answering; its job was retried"

// MarkUnknown marks unknown the deliveries a send job claimed and did not
// record (its worker died): the server may have them, so they are never
// sent again. It returns how many it marked.
func (s *Store) MarkUnknown(ctx context.Context, ids []int64, jobID int64) (int, error) {
	marked, err := s.q.MarkUnknown(ctx, dbsqlc.MarkUnknownParams{Ids: ids, JobID: &jobID, Now: s.clock.Now(), Rule: RetriedRule})
	return len(marked), mapError("mark unknown", err)
}

// Bounced is a delivery refused for good whose address is not suppressed.
type Bounced struct {
	DeliveryID int64
	Email      string
}

// BouncedUnsuppressed lists the deliveries among ids that a send job
// recorded as refused for good (a 5xx) and whose address is not suppressed
// yet: the job died between recording the chunk and suppressing at its
// end.
func (s *Store) BouncedUnsuppressed(ctx context.Context, ids []int64, jobID int64) ([]Bounced, error) {
	rows, err := s.q.BouncedUnsuppressed(ctx, dbsqlc.BouncedUnsuppressedParams{Ids: ids, JobID: &jobID})
	out := make([]Bounced, len(rows))
	for i, r := range rows {
		out[i] = Bounced{DeliveryID: r.ID, Email: r.Email}
	}
	return out, mapError("bounced deliveries", err)
}

// LockContacts locks contacts, in id order, until the transaction ends: a
// send batch holds them while it checks and hands its messages over, so a
// preference change either commits before the check (and is honoured) or
// waits until the messages are handed over.
func (t *Tx) LockContacts(ctx context.Context, ids []int64) ([]outreach.Contact, error) {
	rows, err := t.q.LockContacts(ctx, ids)
	if err != nil {
		return nil, mapError("lock contacts", err)
	}
	return contactsFromRows(rows), nil
}

// SendState is what a batch's send-time check reads about its contacts:
// their suppressions and what was really sent to them (or may have been:
// sending, unknown) since a moment.
type SendState struct {
	Suppression map[int64]outreach.SuppressionReason
	Sent        map[int64][]cadence.Event
}

// SendState reads the check's state for the contacts.
func (t *Tx) SendState(ctx context.Context, contacts []outreach.Contact, since time.Time) (SendState, error) {
	sups, err := t.suppressionsOf(ctx, contacts)
	if err != nil {
		return SendState{}, err
	}
	ids := make([]int64, len(contacts))
	for i, c := range contacts {
		ids[i] = c.ID
	}
	rows, err := t.q.SentHistory(ctx, dbsqlc.SentHistoryParams{ContactIds: ids, Since: since, HistoryFrom: since.Add(-HistorySlack)})
	if err != nil {
		return SendState{}, mapError("sent history", err)
	}
	st := SendState{Suppression: sups, Sent: make(map[int64][]cadence.Event, len(contacts))}
	for _, r := range rows {
		st.Sent[r.ContactID] = append(st.Sent[r.ContactID], cadence.Event{At: r.At})
	}
	return st, nil
}

// Campaigns returns campaigns by id.
func (t *Tx) Campaigns(ctx context.Context, ids []int64) (map[int64]outreach.Campaign, error) {
	rows, err := t.q.CampaignsByIDs(ctx, ids)
	if err != nil {
		return nil, mapError("campaigns", err)
	}
	out := make(map[int64]outreach.Campaign, len(rows))
	for _, r := range rows {
		out[r.ID] = campaignFromRow(r)
	}
	return out, nil
}

// Claim marks scheduled deliveries 'sending' for a send job, counting an
// attempt and giving each its Message-ID, before the SMTP conversation:
// from the commit on, a crash leaves them 'sending', and the job's retry
// marks them unknown instead of sending them again. A delivery changed
// meanwhile, or of a campaign paused or canceled since the check, is not
// claimed. It returns the ids it claimed.
func (t *Tx) Claim(ctx context.Context, ids []int64, jobID int64, installation, domain string) ([]int64, error) {
	marked, err := t.q.MarkSending(ctx, dbsqlc.MarkSendingParams{Ids: ids, JobID: &jobID, Installation: installation,
		Domain: domain, Now: t.Now()})
	return marked, mapError("claim deliveries", err)
}

// Outcome is a claimed delivery's next state after the server's answer
// (see sendcheck.Next).
type Outcome struct {
	ID         int64
	ContactID  int64 // for the delivery.sent and delivery.failed events
	CampaignID int64
	State      outreach.DeliveryState
	Reason     outreach.Reason // terminal states only
	Rule       string          // terminal states only
	At         time.Time       // the planned moment (a retry's, back to scheduled)
	Refund     bool            // the attempt does not count
	Code       int             // SMTP reply code, 0 for none
}

// RecordOutcomes writes the outcomes of claimed deliveries in one
// statement. A delivery no longer 'sending' is left alone, so a sent one
// never changes again — except one a retry marked unknown while the
// attempt that claimed it was only frozen: that attempt's sent or failed
// is the truth, and is recorded late (the SQL says why).
func (t *Tx) RecordOutcomes(ctx context.Context, outs []Outcome) error {
	if len(outs) == 0 {
		return nil
	}
	o := outcomeArrays(outs)
	p := dbsqlc.RecordOutcomesParams{Now: t.Now(), RetriedRule: RetriedRule, Ids: o.ids, States: o.states, Reasons: o.reasons, Rules: o.rules,
		Planned: o.planned, AttemptsDelta: o.delta, Codes: o.codes}
	changed, err := t.q.RecordOutcomes(ctx, p)
	if err != nil {
		return mapError("record outcomes", err)
	}
	return t.emitOutcomes(ctx, outs, changed)
}

// emitOutcomes writes the delivery.sent and delivery.failed events of
// the outcomes recorded, those whose rows changed: a chunk written again
// (after a commit whose answer was lost, say) changes nothing and emits
// nothing a second time.
func (t *Tx) emitOutcomes(ctx context.Context, outs []Outcome, changed []int64) error {
	recorded := make(map[int64]bool, len(changed))
	for _, id := range changed {
		recorded[id] = true
	}
	for _, o := range outs {
		if !recorded[o.ID] {
			continue
		}
		typ := EventDeliverySent
		switch o.State {
		case outreach.DeliverySent:
		case outreach.DeliveryFailed:
			typ = EventDeliveryFailed
		default:
			continue
		}
		if err := t.emit(ctx, typ, contactKey(o.ContactID), o.ContactID, map[string]any{"delivery_id": o.ID,
			"campaign_id": o.CampaignID, "contact_id": o.ContactID, "state": o.State, "reason": o.Reason,
			"smtp_code": o.Code}); err != nil {
			return err
		}
	}
	return nil
}

// outcomes is a chunk's outcomes as the statements' parallel arrays.
type outcomes struct {
	ids            []int64
	states         []string
	reasons, rules []string
	planned        []time.Time
	delta, codes   []int32
}

func outcomeArrays(outs []Outcome) outcomes {
	o := outcomes{ids: make([]int64, len(outs)), states: make([]string, len(outs)), reasons: make([]string, len(outs)),
		rules: make([]string, len(outs)), planned: make([]time.Time, len(outs)), delta: make([]int32, len(outs)),
		codes: make([]int32, len(outs))}
	for i, out := range outs {
		if out.Refund {
			o.delta[i] = -1
		}
		o.ids[i], o.states[i], o.reasons[i], o.rules[i] = out.ID, string(out.State), string(out.Reason), out.Rule
		o.planned[i], o.codes[i] = out.At, int32(out.Code)
	}
	return o
}

// RecordAndClaim is a send chunk's commit: RecordOutcomes for the chunk
// sent and Claim for the next, committed together. When no webhook
// endpoint takes the outcomes' events it is one statement, committed on
// its own: one round trip instead of a transaction's four (BEGIN, two
// updates, COMMIT), on the path every message takes, and shared with the
// other send jobs' calls that meet it (claimgroup.go). Otherwise a
// transaction writes the events too. It returns the ids it claimed. If
// ctx ends while the call waits for a statement, its claim is withdrawn
// (its outcomes are still recorded) and it returns ErrClaimWithdrawn;
// once in a statement it waits for the answer even if ctx ends (at most
// claimTimeout), since the statement may carry other jobs' calls. On any
// other error the claim may still have committed, as before: the caller
// treats it so.
func (s *Store) RecordAndClaim(ctx context.Context, outs []Outcome, ids []int64, jobID int64, installation, domain string) ([]int64, error) {
	events, err := s.outcomeEvents(ctx, outs)
	if err != nil {
		return nil, err
	}
	if events {
		var marked []int64
		err := s.InTx(ctx, func(tx *Tx) error {
			if err := tx.RecordOutcomes(ctx, outs); err != nil {
				return err
			}
			var err error
			marked, err = tx.Claim(ctx, ids, jobID, installation, domain)
			return err
		})
		return marked, err
	}
	c := &claimCall{outs: outcomeArrays(outs), claim: ids, job: jobID, installation: installation, domain: domain}
	s.claims.do(ctx, c, s.runClaims)
	return c.marked, c.err
}

// outcomeEvents reports whether some endpoint takes an event that
// recording outs would emit.
func (s *Store) outcomeEvents(ctx context.Context, outs []Outcome) (bool, error) {
	for _, typ := range []struct {
		state outreach.DeliveryState
		event string
	}{{outreach.DeliverySent, EventDeliverySent}, {outreach.DeliveryFailed, EventDeliveryFailed}} {
		if !slices.ContainsFunc(outs, func(o Outcome) bool { return o.State == typ.state }) {
			continue
		}
		if ok, err := s.wanted(ctx, s.q, typ.event); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// TouchLastSent records that marketing mail reached the contacts now, for
// the overdue list. The contacts must be locked by the transaction (the
// send batch's lock transaction holds them). An id may come more than once
// (two deliveries to one contact in a batch); the upsert may not see a row
// twice, so the ids are sorted and made distinct first.
func (t *Tx) TouchLastSent(ctx context.Context, contactIDs []int64) error {
	if len(contactIDs) == 0 {
		return nil
	}
	ids := slices.Compact(slices.Sorted(slices.Values(contactIDs)))
	return mapError("touch last sent", t.q.TouchLastSent(ctx, dbsqlc.TouchLastSentParams{Ids: ids, Now: t.Now()}))
}

// LostDeliveries returns up to limit scheduled deliveries whose moment passed
// before before and that no live send job carries, so that the caller can
// give them one in the same transaction: a send job deleted through River's
// UI, cancelled or discarded after its attempts would otherwise leave its
// deliveries scheduled forever. It takes a transaction lock first, so that
// two sweeps never both enqueue the same delivery; a second one sees the
// first one's jobs. It looks at the oldest scan overdue deliveries only.
func (t *Tx) LostDeliveries(ctx context.Context, before time.Time, scan, limit int) ([]int64, error) {
	if err := t.q.LostDeliveriesLock(ctx); err != nil {
		return nil, mapError("lost deliveries", err)
	}
	ids, err := t.q.LostDeliveries(ctx, dbsqlc.LostDeliveriesParams{Before: before, Scan: int32(scan), Lim: int32(limit)})
	return ids, mapError("lost deliveries", err)
}
