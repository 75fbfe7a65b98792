// Package campaign is the campaign service: creating, changing, previewing
// and forecasting campaigns and moving them through their lifecycle
// (send, schedule, pause, resume, cancel, recurring firings). The admin API
// and the console call it alike, so a campaign rule has one home; the
// River workers that plan and send are in package jobs, which the service
// reaches only through the Queue it is given.
package campaign

import (
	"context"
	"log/slog"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/token"
)

// Queue enqueues the jobs the service starts, in the caller's transaction,
// so they commit (or not) with the change that needs them (jobs.Queue).
type Queue interface {
	// PlanRun plans a run's contacts with ids in (lo, hi].
	PlanRun(ctx context.Context, tx *postgres.Tx, runID, lo, hi int64) error
	// ReplanCampaign re-plans a resumed campaign's held deliveries.
	ReplanCampaign(ctx context.Context, tx *postgres.Tx, campaignID int64) error
}

// Config is what the service needs besides the store and the queue.
type Config struct {
	Clock    outreach.Clock
	Log      *slog.Logger
	Renderer *render.Renderer
	Links    token.Links
	// DefaultZone is the time zone of contacts without one; Jitter spreads
	// deferred messages. Forecasts plan with them as the plan jobs do.
	DefaultZone *time.Location
	Jitter      time.Duration
	// Mail is what previews show of the headers the send job writes.
	Mail Mail
	// PlanShards is how many contact-id ranges a run's planning is split
	// into (one plan job each, worked in parallel); 0 means 2.
	PlanShards int
}

// Mail is the sending configuration a preview's headers show (jobs.Mail
// has the same values).
type Mail struct {
	From                                       string
	BounceDomain, ListIDDomain, FeedbackSender string
}

// Service is the campaign service.
type Service struct {
	store *postgres.Store
	queue Queue
	cfg   Config
}

// New returns the service.
func New(store *postgres.Store, queue Queue, cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = outreach.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.DefaultZone == nil {
		cfg.DefaultZone = time.UTC
	}
	if cfg.PlanShards <= 0 {
		cfg.PlanShards = 2
	}
	return &Service{store: store, queue: queue, cfg: cfg}
}

// planner is the planner for the tiers in force now.
func (s *Service) planner(ctx context.Context) (*planner.Planner, error) {
	tiers, err := s.store.Tiers(ctx)
	if err != nil {
		return nil, err
	}
	return planner.New(tiers, s.cfg.DefaultZone, s.cfg.Jitter), nil
}

// Get returns one campaign.
func (s *Service) Get(ctx context.Context, id int64) (outreach.Campaign, error) {
	return s.store.Campaign(ctx, id)
}

// List lists campaigns in id order after afterID ("" status: all).
func (s *Service) List(ctx context.Context, status outreach.CampaignStatus, afterID int64, limit int) ([]outreach.Campaign, error) {
	return s.store.CampaignList(ctx, string(status), afterID, limit)
}

// Stats counts a campaign's deliveries by tier, state and reason.
func (s *Service) Stats(ctx context.Context, id int64) ([]postgres.StatRow, error) {
	return s.store.CampaignStats(ctx, id)
}
