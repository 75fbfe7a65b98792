package campaign

import (
	"context"
	"slices"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/schedule"
)

// Browse lists campaigns with one of statuses, newest first, before the
// id beforeID (0: from the newest): the console's lists.
func (s *Service) Browse(ctx context.Context, statuses []outreach.CampaignStatus, beforeID int64, limit int) ([]outreach.Campaign, error) {
	return s.store.CampaignsNewest(ctx, statuses, beforeID, limit)
}

// NextFirings is the next n firings of a cron expression in zone after
// from, exactly as a recurring campaign fires (internal/schedule); fewer
// when the expression fires less often (or never again).
func NextFirings(cron, zone string, from time.Time, n int) ([]time.Time, error) {
	sch, err := schedule.Parse(cron, zone)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for t := from; len(out) < n; {
		if t = sch.Next(t); t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out, nil
}

// Occurrence is one upcoming send of a scheduled campaign: a one-off's
// send_at, or a firing of a recurring one.
type Occurrence struct {
	Campaign  outreach.Campaign
	At        time.Time
	Recurring bool
}

// maxScheduled bounds how many scheduled campaigns a calendar reads.
const maxScheduled = 1000

// Upcoming lists the sends of scheduled campaigns in [from, to) and not
// before now, in time order: one-off campaigns at their send_at, recurring ones at every
// firing of their cron in their zone (at most perCampaign each; more
// reports truncated).
func (s *Service) Upcoming(ctx context.Context, from, to time.Time, perCampaign int) (out []Occurrence, truncated bool, err error) {
	if now := s.cfg.Clock.Now(); from.Before(now) {
		from = now
	}
	camps, err := s.store.CampaignsNewest(ctx, []outreach.CampaignStatus{outreach.CampaignScheduled}, 0, maxScheduled)
	if err != nil {
		return nil, false, err
	}
	for _, c := range camps {
		if c.Cron == "" {
			if c.SendAt != nil && !c.SendAt.Before(from) && c.SendAt.Before(to) {
				out = append(out, Occurrence{Campaign: c, At: *c.SendAt})
			}
			continue
		}
		sch, err := schedule.Parse(c.Cron, c.Timezone)
		if err != nil {
			continue // stored campaigns were checked; FireDue logs any that is not
		}
		n := 0
		for t := sch.Next(from.Add(-time.Nanosecond)); !t.IsZero() && t.Before(to); t = sch.Next(t) {
			if n == perCampaign {
				truncated = true
				break
			}
			out = append(out, Occurrence{Campaign: c, At: t, Recurring: true})
			n++
		}
	}
	slices.SortStableFunc(out, func(a, b Occurrence) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return int(a.Campaign.ID - b.Campaign.ID)
	})
	return out, truncated, nil
}
