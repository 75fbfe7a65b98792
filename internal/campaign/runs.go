package campaign

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/schedule"
)

// minShard is the least id span worth a planning job of its own.
const minShard = 20000

// startRun creates a run of c firing at fireAt and enqueues its planning,
// in tx: a run is started entirely or not at all.
func (s *Service) StartRun(ctx context.Context, tx *postgres.Tx, c outreach.Campaign, fireAt time.Time) (int64, error) {
	var expires *time.Time
	if c.ExpiresAfter > 0 {
		e := fireAt.Add(c.ExpiresAfter)
		expires = &e
	}
	lo, hi, err := tx.ContactIDRange(ctx)
	if err != nil {
		return 0, err
	}
	bounds := Shards(lo-1, hi, s.cfg.PlanShards, minShard)
	runID, err := tx.InsertRun(ctx, c.ID, fireAt, expires, len(bounds)-1)
	if err != nil {
		return 0, err
	}
	for i := 1; i < len(bounds); i++ {
		hi := bounds[i]
		if i == len(bounds)-1 {
			hi = math.MaxInt64 // contacts added while planning join the last range
		}
		if err := s.queue.PlanRun(ctx, tx, runID, bounds[i-1], hi); err != nil {
			return 0, err
		}
	}
	return runID, nil
}

// Shards splits the id span (lo, hi] into at most n ranges of at least min
// ids, returning the n+1 bounds.
func Shards(lo, hi int64, n int, min int64) []int64 {
	if n < 1 {
		n = 1
	}
	for n > 1 && (hi-lo)/int64(n) < min {
		n--
	}
	out := []int64{lo}
	for i := 1; i < n; i++ {
		out = append(out, lo+(hi-lo)*int64(i)/int64(n))
	}
	return append(out, hi)
}

// defaultRelevance is how late a missed firing may still run when the
// campaign sets no expires_after.
const defaultRelevance = 24 * time.Hour

// FireDue creates the runs of recurring campaigns whose next firing has
// come, and marks finished one-off campaigns completed. Any number of
// schedulers may call it at once: each due campaign is fired by one of
// them, and a (campaign, fire_at) pair has one run, ever. After downtime
// only the latest missed firing runs, and only if it is still within the
// campaign's expires_after (default 24h).
func (s *Service) FireDue(ctx context.Context) error {
	err := s.store.InTx(ctx, func(tx *postgres.Tx) error {
		now := s.cfg.Clock.Now()
		due, err := tx.DueRecurring(ctx, now)
		if err != nil {
			return err
		}
		for _, c := range due {
			sch, err := schedule.Parse(c.Cron, c.Timezone)
			if err != nil {
				s.cfg.Log.Error("recurring campaign has an invalid schedule", "campaign_id", c.ID, "error", err.Error())
				continue
			}
			fire := LatestFiring(sch, *c.NextFireAt, now)
			relevance := c.ExpiresAfter
			if relevance <= 0 {
				relevance = defaultRelevance
			}
			if now.Sub(fire) <= relevance {
				if _, err := s.StartRun(ctx, tx, c, fire); err != nil {
					return err
				}
			} else {
				s.cfg.Log.Warn("missed firing dropped: past its relevance window", "campaign_id", c.ID, "fire_at", fire)
			}
			if err := tx.SetNextFire(ctx, c.ID, sch.Next(now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	done, err := s.store.CompleteCampaigns(ctx)
	for _, id := range done {
		s.cfg.Log.Info("campaign completed", "campaign_id", id)
	}
	return err
}

// LatestFiring is the last firing at or before now, starting from next (a
// firing that is due): after downtime only the most recent missed firing
// runs, not every one that was missed.
func LatestFiring(s schedule.Schedule, next, now time.Time) time.Time {
	fire := next
	for i := 0; i < 100000; i++ {
		n := s.Next(fire)
		if n.IsZero() || n.After(now) {
			break
		}
		fire = n
	}
	return fire
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
