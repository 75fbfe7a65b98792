// Package jobs holds rapport's River jobs and their workers, nothing else:
// planning a campaign run (one reserved delivery per contact, decided by
// the planner), sending batches of due deliveries (the send-time check,
// the at-most-once claim, the outcomes recorded with the job's completion
// in one transaction), re-planning a resumed campaign, and the periodic
// firing of recurring campaigns. Each worker holds the few dependencies it
// uses; the campaign service enqueues through Queue.
package jobs

import (
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// Queue names. Planning and sending have their own queues so a big plan
// never starves sends and vice versa.
const (
	QueuePlan = "plan"
	QueueSend = "send"
	// QueueInsight runs the insight rollup, one at a time, so a long
	// catch-up never holds a planning worker.
	QueueInsight = "insight"
)

// Client is the River client type rapport uses everywhere.
type Client = river.Client[pgx.Tx]

type riverDriver = riverpgxv5.Driver

// Cadence is how the workers plan: the tiers come from the store, these
// from the configuration.
type Cadence struct {
	DefaultZone *time.Location // for contacts without a time zone
	Jitter      time.Duration  // deferred messages are spread over this much
}

// Timeouts derives job timeouts from River's rescue delay: half of it, at
// most 3 minutes for a send batch and 10 for a planning slice (planning
// resumes where it stopped, so a timeout only splits the work). Both stay
// below the rescue delay, or a slow job would be run twice.
func Timeouts(rescueAfter time.Duration) (send, plan time.Duration) {
	return min(3*time.Minute, rescueAfter/2), min(10*time.Minute, rescueAfter/2)
}

// Workers are the workers one process runs.
type Workers struct {
	Plan    *PlanWorker
	Send    *SendWorker
	Replan  *ReplanWorker
	FireDue *FireDueWorker
	Webhook *WebhookDispatchWorker
	Resend  *ResendLostWorker // gives lost deliveries a new send job
	// Rollup keeps the insight rollups; nil leaves the job out (and out of
	// PeriodicJobs).
	Rollup *InsightRollupWorker
	// Prune deletes final deliveries older than DELIVERY_RETENTION; nil
	// leaves the job out (and out of PeriodicJobs).
	Prune *PruneHistoryWorker
}

// Register adds the workers to w.
func Register(w *river.Workers, ws Workers) {
	river.AddWorker(w, ws.Plan)
	river.AddWorker(w, ws.Send)
	river.AddWorker(w, ws.Replan)
	river.AddWorker(w, ws.FireDue)
	if ws.Webhook != nil {
		river.AddWorker(w, ws.Webhook)
	}
	if ws.Resend != nil {
		river.AddWorker(w, ws.Resend)
	}
	if ws.Rollup != nil {
		river.AddWorker(w, ws.Rollup)
	}
	if ws.Prune != nil {
		river.AddWorker(w, ws.Prune)
	}
}

// Metrics records what the workers do (metrics.Registry); nil records
// nothing.
type Metrics interface {
	Delivery(state, reason string, n int)
	SendLatency(d time.Duration)
	ThrottleWait(d time.Duration)
	SMTPError(class string)
}

// noMetrics records nothing.
type noMetrics struct{}

func (noMetrics) Delivery(string, string, int) {}
func (noMetrics) SendLatency(time.Duration)    {}
func (noMetrics) ThrottleWait(time.Duration)   {}
func (noMetrics) SMTPError(string)             {}
