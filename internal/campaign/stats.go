package campaign

import (
	"context"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// TierStats counts one tier's deliveries of a campaign (or all of them):
// Scheduled go at their firing, Deferred wait for a later slot (by
// reason in DeferredBy), Sending are being handed over, and the
// terminal ones are Sent, Skipped and Failed by reason, and Unknown.
type TierStats struct {
	Total, Scheduled, Deferred, Sending, Sent, Unknown int64
	DeferredBy                                         map[outreach.Reason]int64
	Skipped, Failed                                    map[outreach.Reason]int64
	// Recent were sent within the last postgres.RecentWindow.
	Recent int64
}

// Pending is what is still to happen: scheduled, deferred and sending.
func (t *TierStats) Pending() int64 { return t.Scheduled + t.Deferred + t.Sending }

// SkippedTotal and FailedTotal add up their reasons.
func (t *TierStats) SkippedTotal() int64 { return sum(t.Skipped) }

// FailedTotal adds up the failures' reasons.
func (t *TierStats) FailedTotal() int64 { return sum(t.Failed) }

func sum(m map[outreach.Reason]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func newTierStats() *TierStats {
	return &TierStats{DeferredBy: map[outreach.Reason]int64{}, Skipped: map[outreach.Reason]int64{}, Failed: map[outreach.Reason]int64{}}
}

// Stats is a campaign's deliveries counted, by tier and in total.
type Stats struct {
	CampaignID int64
	Total      *TierStats
	Tiers      map[string]*TierStats
}

// Progress counts a campaign's deliveries by tier, state and reason: what
// the API's stats and the console's run view show.
func (s *Service) Progress(ctx context.Context, id int64) (Stats, error) {
	rows, err := s.Stats(ctx, id)
	if err != nil {
		return Stats{}, err
	}
	return Tally(id, rows), nil
}

// Tally adds up stat rows: a delivery scheduled with a reason other than
// scheduled is deferred.
func Tally(id int64, rows []postgres.StatRow) Stats {
	out := Stats{CampaignID: id, Total: newTierStats(), Tiers: map[string]*TierStats{}}
	for _, r := range rows {
		ts := out.Tiers[r.Tier]
		if ts == nil {
			ts = newTierStats()
			out.Tiers[r.Tier] = ts
		}
		reason := outreach.Reason(r.Reason)
		for _, t := range []*TierStats{ts, out.Total} {
			t.Total += r.N
			t.Recent += r.Recent
			switch outreach.DeliveryState(r.State) {
			case outreach.DeliveryScheduled:
				if reason == outreach.ReasonScheduled {
					t.Scheduled += r.N
				} else {
					t.Deferred += r.N
					t.DeferredBy[reason] += r.N
				}
			case outreach.DeliverySending:
				t.Sending += r.N
			case outreach.DeliverySent:
				t.Sent += r.N
			case outreach.DeliverySkipped:
				t.Skipped[reason] += r.N
			case outreach.DeliveryFailed:
				t.Failed[reason] += r.N
			case outreach.DeliveryUnknown:
				t.Unknown += r.N
			}
		}
	}
	return out
}
