package campaign

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/schedule"
)

// TierForecast counts what would happen to one tier's contacts.
type TierForecast struct {
	Now      int
	Deferred int
	Expired  int
	Skipped  map[outreach.Reason]int
}

// Bucket is one bar of the deferral histogram: deferrals of at most UpTo
// after the firing.
type Bucket struct {
	Label string
	UpTo  time.Duration
	Count int
}

// Forecast is a campaign's dry run.
type Forecast struct {
	CampaignID int64
	FireAt     time.Time
	Contacts   int
	Tiers      map[string]*TierForecast
	Reasons    map[outreach.Reason]int
	Deferred   []Bucket
}

// buckets are the deferral histogram's bars.
var buckets = []Bucket{{Label: "1h", UpTo: time.Hour}, {Label: "6h", UpTo: 6 * time.Hour}, {Label: "24h", UpTo: 24 * time.Hour},
	{Label: "3d", UpTo: 72 * time.Hour}, {Label: "7d", UpTo: 7 * 24 * time.Hour}, {Label: "30d", UpTo: 30 * 24 * time.Hour},
	{Label: "later", UpTo: 1<<63 - 1}}

// forecastBatch is how many contacts a forecast reads at a time.
const forecastBatch = 2000

// Forecast dry-runs the campaign over its audience as if it fired now (or
// at its send_at / next cron firing), through the same planner the real
// run uses, in a read-only transaction: nothing is written.
func (s *Service) Forecast(ctx context.Context, id int64) (Forecast, error) {
	var out Forecast
	err := s.store.InReadTx(ctx, func(tx *postgres.Tx) error {
		p, err := s.planner(ctx)
		if err != nil {
			return err
		}
		out, err = s.ForecastTx(ctx, tx, id, p)
		return err
	})
	return out, err
}

// ForecastTx is Forecast in the caller's read transaction with the
// caller's planner: a what-if forecast passes one whose tier has a
// proposed rule (Planner lets it replace a rule).
func (s *Service) ForecastTx(ctx context.Context, tx *postgres.Tx, id int64, p *planner.Planner) (Forecast, error) {
	var out Forecast
	err := func() error {
		c, err := tx.Campaign(ctx, id)
		if err != nil {
			return err
		}
		now := s.cfg.Clock.Now()
		fire := now
		if c.SendAt != nil && c.SendAt.After(now) {
			fire = *c.SendAt
		}
		if c.Cron != "" {
			if sch, err := schedule.Parse(c.Cron, c.Timezone); err == nil {
				fire = sch.Next(now)
			}
		}
		run := planner.Run{Campaign: c, FireAt: fire}
		if c.ExpiresAfter > 0 {
			run.ExpiresAt = fire.Add(c.ExpiresAfter)
		}
		out = Forecast{CampaignID: c.ID, FireAt: fire, Tiers: map[string]*TierForecast{}, Reasons: map[outreach.Reason]int{},
			Deferred: append([]Bucket(nil), buckets...)}
		rng := rand.New(rand.NewPCG(uint64(id), 1))
		batch := postgres.AudienceBatch{Audience: c.Audience, Limit: forecastBatch, Since: now.Add(-p.Window())}
		for {
			targets, err := tx.AudienceTargets(ctx, batch)
			if err != nil {
				return err
			}
			if len(targets) == 0 {
				return nil
			}
			batch.After = targets[len(targets)-1].Contact.ID
			for _, t := range targets {
				out.count(p.Plan(run, t, now, rng), fire)
			}
		}
	}()
	return out, err
}

// Planner returns the planner for the tiers in force now, as the plan jobs
// and forecasts use it.
func (s *Service) Planner(ctx context.Context) (*planner.Planner, error) { return s.planner(ctx) }

func (f *Forecast) count(o planner.Outcome, fire time.Time) {
	f.Contacts++
	tf := f.Tiers[o.Tier]
	if tf == nil {
		tf = &TierForecast{Skipped: map[outreach.Reason]int{}}
		f.Tiers[o.Tier] = tf
	}
	f.Reasons[o.Reason]++
	switch {
	case o.Reason == outreach.ReasonExpired:
		tf.Expired++
	case o.State == outreach.DeliverySkipped:
		tf.Skipped[o.Reason]++
	case o.Reason == outreach.ReasonScheduled:
		tf.Now++
	default:
		tf.Deferred++
		wait := o.PlannedFor.Sub(fire)
		for i := range f.Deferred {
			if wait <= f.Deferred[i].UpTo {
				f.Deferred[i].Count++
				break
			}
		}
	}
}
