// Package tuning is the relationship-insight service: fatigue per tier,
// the pressure–response curve, the what-if replay of a proposed rule, and
// relationships that drift from their tier, with the signals and the
// thresholds behind them. The admin API and the console call it alike;
// the insight_rollup job calls Rollup. The arithmetic is package
// insight's (pure); the facts come from the store.
package tuning

import (
	"context"
	"log/slog"
	"time"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// Config is what the service needs besides the store.
type Config struct {
	Clock outreach.Clock
	Log   *slog.Logger
	// DefaultZone is the zone of contacts without one, as the planner uses.
	DefaultZone *time.Location
	// Rollup tunes the rollup (defaults when zero).
	Rollup postgres.RollupOptions
}

// Service is the relationship-insight service.
type Service struct {
	store     *postgres.Store
	campaigns *campaign.Service
	cfg       Config
}

// New returns the service. campaigns forecasts recurring firings for the
// what-if.
func New(store *postgres.Store, campaigns *campaign.Service, cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = outreach.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.DefaultZone == nil {
		cfg.DefaultZone = time.UTC
	}
	return &Service{store: store, campaigns: campaigns, cfg: cfg}
}

// Rollup brings the fatigue and pressure rollups up to now (see
// postgres.Store.RollupInsights): the periodic insight_rollup job's work,
// safe to run anywhere, any number of times.
func (s *Service) Rollup(ctx context.Context) (postgres.RollupReport, error) {
	rep, err := s.store.RollupInsights(ctx, s.cfg.Clock.Now(), s.cfg.Rollup)
	if err == nil && (rep.ClosedDays > 0 || rep.Events > 0) {
		s.cfg.Log.Info("insight rollup", "events", rep.Events, "closed_days", rep.ClosedDays, "open_days", rep.OpenDays,
			"days_through", rep.DaysThrough.Format(time.DateOnly))
	}
	return rep, err
}

// tierKnown checks a tier filter ("" is every tier) and names the field.
func (s *Service) tierKnown(ctx context.Context, field, key string) error {
	if key == "" {
		return nil
	}
	if _, err := s.store.Tier(ctx, key); err != nil {
		if outreach.ErrorCode(err) == outreach.ENOTFOUND {
			return outreach.Invalid(outreach.FieldError{Field: field, Message: "no such tier: " + key})
		}
		return err
	}
	return nil
}

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
