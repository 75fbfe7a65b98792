// The send-time check: each due delivery against the locked contact, its
// suppression, its campaign and the caps as really sent, decided by
// sendcheck.Check and written in one statement per kind of change.

package jobs

import (
	"context"
	"math/rand/v2"

	"github.com/riverqueue/river"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/sendcheck"
)

// check re-checks the job's due deliveries for the locked contacts, in its
// own committed transaction: deliveries that must never go are ended with
// their reason, those that may go later are re-planned, and the rest are
// returned ready to send (not yet claimed).
func (w *SendWorker) check(ctx context.Context, job *river.Job[SendArgs], locked []outreach.Contact, want map[int64]bool) ([]outgoing, error) {
	tiers, err := w.store.Tiers(ctx)
	if err != nil {
		return nil, err
	}
	p := planner.New(tiers, w.cfg.Cadence.DefaultZone, w.cfg.Cadence.Jitter)
	contacts := make(map[int64]*outreach.Contact, len(locked))
	for i := range locked {
		contacts[locked[i].ID] = &locked[i]
	}
	var ready []outgoing
	err = w.store.InTx(ctx, func(tx *postgres.Tx) error {
		if err := tx.GenericPlans(ctx); err != nil {
			return err
		}
		ready = make([]outgoing, 0, len(want))
		now := w.cfg.Clock.Now()
		st, err := tx.SendState(ctx, locked, now.Add(-p.Window()))
		if err != nil {
			return err
		}
		items, err := tx.SendRecheck(ctx, job.Args.DeliveryIDs)
		if err != nil {
			return err
		}
		byID, err := tx.Campaigns(ctx, campaignIDs(items))
		if err != nil {
			return err
		}
		camps := make(map[int64]*outreach.Campaign, len(byID))
		for id, c := range byID {
			camps[id] = &c
		}
		rng := rand.New(rand.NewPCG(uint64(job.ID), uint64(now.UnixNano())))
		var r replans
		for _, it := range items {
			cp, known := contacts[it.ContactID]
			if !want[it.ID] || !known || it.State != outreach.DeliveryScheduled || it.PlannedFor.After(now.Add(dueSlack)) {
				continue // not this run's, handled elsewhere, or re-planned to a later job
			}
			campP := camps[it.CampaignID]
			if campP == nil {
				campP = &outreach.Campaign{} // never in practice: runs keep their campaigns
			}
			contact, camp := *cp, *campP
			tier, ok := p.EffectiveTier(contact) // tiers read after the contacts were locked
			v := sendcheck.Check(sendcheck.Input{Contact: contact, Suppression: st.Suppression[contact.ID], Campaign: camp,
				Delivery: it.Delivery, Tier: tier, NoTier: !ok, Zone: p.Zone(contact), Sent: st.Sent[contact.ID], Now: now})
			switch v.Action {
			case sendcheck.Hold:
				// held; resume re-plans it
			case sendcheck.End:
				r.ends = append(r.ends, postgres.End{ID: it.ID, State: v.State, Reason: v.Reason, Rule: v.Rule})
			case sendcheck.Later:
				// Deliveries this batch already passed for the contact
				// count as sent.
				if err := r.add(ctx, tx, p, contact, it.ID, it.ExpiresAt, camp.Priority, st.Sent[contact.ID], now, rng); err != nil {
					return err
				}
			case sendcheck.Send:
				if it.Marketing {
					st.Sent[contact.ID] = append(st.Sent[contact.ID], cadenceEvent(now))
				}
				// Rendered right before it goes (sendChunk), not here: a
				// batch's 200 rendered messages, held by 16 workers
				// until each is sent, were a fifth of the peak RSS.
				ready = append(ready, outgoing{item: it, contact: cp, camp: campP})
			}
		}
		if err := r.write(ctx, tx, w.cfg.Metrics); err != nil {
			return err
		}
		return enqueueSends(ctx, tx, r.sends, now, w.cfg.SendBatch)
	})
	return ready, err
}

func campaignIDs(items []postgres.SendItem) []int64 {
	seen := map[int64]bool{}
	var ids []int64
	for _, it := range items {
		if !seen[it.CampaignID] {
			seen[it.CampaignID] = true
			ids = append(ids, it.CampaignID)
		}
	}
	return ids
}
