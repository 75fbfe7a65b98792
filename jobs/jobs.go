// Package jobs holds rapport's River jobs: planning a campaign run
// (fan-out into one reserved delivery per contact, decided by the planner)
// and sending batches of due deliveries with the send-time check, the
// at-most-once state machine and the completion recorded in one transaction
// with the job.
package jobs

import (
	"context"
	"log/slog"
	"net/mail"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/planner"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/throttle"
	"github.com/rapport-dev/rapport/internal/token"
)

// Queue names. Planning and sending have their own queues so a big plan
// never starves sends and vice versa.
const (
	QueuePlan = "plan"
	QueueSend = "send"
)

// Deps is what the workers need. One value is shared by every worker.
type Deps struct {
	Store       *postgres.Store
	Clock       outreach.Clock
	Log         *slog.Logger
	Renderer    *render.Renderer
	Transport   mailer.Transport
	Signer      *token.Signer
	PublicURL   *url.URL
	From        *mail.Address
	DefaultZone *time.Location
	Jitter      time.Duration
	BatchSize   int // contacts per planning transaction
	SendBatch   int // deliveries per send job
	Throttle    Throttle
	Metrics     Metrics
	// SendTimeout and PlanTimeout bound one job; both must stay below
	// River's RescueStuckJobsAfter, or a slow job would be run twice.
	SendTimeout time.Duration
	PlanTimeout time.Duration
}

// Timeouts derives job timeouts from River's rescue delay: half of it, at
// most 3 minutes for a send batch and 10 for a planning slice (planning
// resumes where it stopped, so a timeout only splits the work).
func Timeouts(rescueAfter time.Duration) (send, plan time.Duration) {
	return min(3*time.Minute, rescueAfter/2), min(10*time.Minute, rescueAfter/2)
}

// planner builds the planner for the tiers in force now.
func (d *Deps) planner(tiers []outreach.Tier) *planner.Planner {
	p := &planner.Planner{Tiers: make(map[string]outreach.Tier, len(tiers)), DefaultZone: d.DefaultZone, Spread: d.Jitter}
	for _, t := range tiers {
		p.Tiers[t.Key] = t
	}
	return p
}

// Throttle paces sends across all worker processes (throttle.Limiter).
type Throttle interface {
	ReserveWithin(ctx context.Context, now time.Time, domains []string, horizon time.Duration) ([]throttle.Slot, error)
	PeekWithin(ctx context.Context, now time.Time, domains []string, horizon time.Duration) ([]throttle.Slot, error)
	SlowDown(ctx context.Context, now time.Time, domain string) (float64, error)
}

// Metrics records what the workers do (metrics.Registry); nil records
// nothing.
type Metrics interface {
	Delivery(state, reason string, n int)
	SendLatency(d time.Duration)
	ThrottleWait(d time.Duration)
	SMTPError(class string)
}

// Register adds every worker to workers.
func Register(workers *river.Workers, d *Deps, l *Launcher) {
	river.AddWorker(workers, &PlanWorker{d: d})
	river.AddWorker(workers, &SendWorker{d: d, cache: newContentCache()})
	river.AddWorker(workers, &ReplanWorker{d: d})
	river.AddWorker(workers, &FireDueWorker{d: d, l: l})
}

// Client is the River client type rapport uses everywhere.
type Client = river.Client[pgx.Tx]

func (d *Deps) link(kind string, tok string) string {
	return d.PublicURL.String() + "/" + kind + "/" + tok
}

// PreferencesURL is the contact's preference-center link for a campaign.
func (d *Deps) PreferencesURL(contactID, campaignID int64) string {
	return d.link("p", d.Signer.Sign(token.Claims{Purpose: token.Preferences, ContactID: contactID, CampaignID: campaignID}))
}

// UnsubscribeURL is the contact's one-click unsubscribe link for a campaign.
func (d *Deps) UnsubscribeURL(contactID, campaignID int64) string {
	return d.link("u", d.Signer.Sign(token.Claims{Purpose: token.Unsubscribe, ContactID: contactID, CampaignID: campaignID}))
}

// MessageID is a delivery's Message-ID (without brackets). It is derived
// from the delivery, so a message sent twice would carry the same id: the
// crash tests count on that to prove nothing is.
func MessageID(deliveryID, campaignID int64, domain string) string {
	return "rapport." + strconv.FormatInt(deliveryID, 10) + "." + strconv.FormatInt(campaignID, 10) + "@" + domain
}

type riverJobState = rivertype.JobState

const (
	riverStateAvailable = rivertype.JobStateAvailable
	riverStatePending   = rivertype.JobStatePending
	riverStateRetryable = rivertype.JobStateRetryable
	riverStateRunning   = rivertype.JobStateRunning
	riverStateScheduled = rivertype.JobStateScheduled
)
