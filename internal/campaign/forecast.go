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

// TierForecast, Bucket, RuleCount and DisplacedTier are the planner's
// forecast counts (planner.Forecast).
type (
	TierForecast  = planner.TierForecast
	Bucket        = planner.Bucket
	RuleCount     = planner.RuleCount
	DisplacedTier = planner.DisplacedTier
)

// Displacement is what the run would do to one lower-priority campaign's
// reserved deliveries (planner.Displacement), with the campaign's name.
type Displacement struct {
	planner.Displacement
	Name string
}

// Forecast is a campaign's dry run.
type Forecast struct {
	CampaignID int64
	FireAt     time.Time
	Contacts   int
	Tiers      map[string]*TierForecast
	Reasons    map[outreach.Reason]int
	Deferred   []Bucket
	// Displaces lists the lower-priority campaigns whose reserved
	// deliveries the run would take the slots of, most first.
	Displaces []Displacement
	// Estimated is set when the forecast planned a sample of Sampled
	// contacts spread over the audience and scaled its counts up to the
	// audience's estimated size (ForecastSample).
	Estimated bool
	Sampled   int
}

// forecastBatch is how many contacts a forecast reads at a time.
const forecastBatch = 2000

// Forecast dry-runs the campaign over its audience as if it fired now (or
// at its send_at / next cron firing), through the same planner the real
// run uses, in a read-only transaction: nothing is written.
func (s *Service) Forecast(ctx context.Context, id int64) (Forecast, error) {
	return s.forecast(ctx, id, 0)
}

// sampleWindows is how many stretches of the id range a sampled forecast
// reads.
const sampleWindows = 10

// ForecastSample is Forecast within a budget: when the contact-id range is
// larger than about sample contacts, it plans sample contacts read in ten
// stretches spread over the range, each exactly as Forecast would, and
// scales the counts up to the audience's size estimated from the
// stretches' density (Estimated, Sampled). A million contacts take tens of
// seconds to forecast exactly and a fraction of a second this way.
func (s *Service) ForecastSample(ctx context.Context, id int64, sample int) (Forecast, error) {
	return s.forecast(ctx, id, sample)
}

func (s *Service) forecast(ctx context.Context, id int64, sample int) (Forecast, error) {
	var out Forecast
	err := s.store.InReadTx(ctx, func(tx *postgres.Tx) error {
		p, err := s.planner(ctx)
		if err != nil {
			return err
		}
		out, err = s.forecastTx(ctx, tx, id, p, sample)
		return err
	})
	return out, err
}

// ForecastTx is Forecast in the caller's read transaction with the
// caller's planner: a what-if forecast passes one whose tier has a
// proposed rule (Planner lets it replace a rule).
func (s *Service) ForecastTx(ctx context.Context, tx *postgres.Tx, id int64, p *planner.Planner) (Forecast, error) {
	return s.forecastTx(ctx, tx, id, p, 0)
}

func (s *Service) forecastTx(ctx context.Context, tx *postgres.Tx, id int64, p *planner.Planner, sample int) (Forecast, error) {
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
		f := planner.NewForecast(fire)
		rng := rand.New(rand.NewPCG(uint64(id), 1))
		plan := func(b postgres.AudienceBatch) ([]planner.Target, error) {
			targets, err := tx.AudienceTargets(ctx, b)
			for _, t := range targets {
				f.Add(t, p.Plan(run, t, now, rng))
			}
			return targets, err
		}
		batch := postgres.AudienceBatch{Audience: c.Audience, Limit: forecastBatch, Since: now.Add(-p.Window())}
		lo, hi, err := tx.ContactIDRange(ctx)
		if err != nil {
			return err
		}
		sampled := false
		if sample > 0 && hi-lo+1 > int64(sample) {
			// Ten stretches of the id range, each read from its start until
			// sample/10 contacts of the audience or its end.
			bounds := Shards(lo-1, hi, sampleWindows, 1)
			windows := make([]planner.Window, 0, sampleWindows)
			whole := true
			for i := 1; i < len(bounds); i++ {
				b := batch
				b.After, b.Max, b.Limit = bounds[i-1], bounds[i], max(1, sample/sampleWindows)
				targets, err := plan(b)
				if err != nil {
					return err
				}
				w := planner.Window{Span: bounds[i] - bounds[i-1], Found: len(targets)}
				if len(targets) == b.Limit {
					w.Span = targets[len(targets)-1].Contact.ID - bounds[i-1]
					whole = false
				}
				windows = append(windows, w)
			}
			if !whole {
				sampled = true
				f.Done()
				if n := f.Contacts; n > 0 {
					total := planner.EstimateAudience(hi-lo+1, windows)
					f.Scale(float64(total)/float64(n), total)
					out.Sampled = n
				}
			}
		} else {
			for {
				targets, err := plan(batch)
				if err != nil {
					return err
				}
				if len(targets) == 0 {
					break
				}
				batch.After = targets[len(targets)-1].Contact.ID
			}
		}
		if !sampled {
			f.Done()
		}
		out = Forecast{CampaignID: c.ID, FireAt: fire, Contacts: f.Contacts, Tiers: f.Tiers, Reasons: f.Reasons, Deferred: f.Deferred,
			Estimated: sampled, Sampled: out.Sampled}
		displaces := f.Displaces()
		if len(displaces) == 0 {
			return nil
		}
		ids := make([]int64, len(displaces))
		for i, d := range displaces {
			ids[i] = d.CampaignID
		}
		names, err := tx.Campaigns(ctx, ids)
		if err != nil {
			return err
		}
		for _, d := range displaces {
			out.Displaces = append(out.Displaces, Displacement{Displacement: d, Name: names[d.CampaignID].Name})
		}
		return nil
	}()
	return out, err
}

// Planner returns the planner for the tiers in force now, as the plan jobs
// and forecasts use it.
func (s *Service) Planner(ctx context.Context) (*planner.Planner, error) { return s.planner(ctx) }
