package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/rapport-dev/rapport/internal/postgres"
)

// DatabaseWait is River worker middleware for database outages. A job
// whose work fails because the database went away does not report back at
// once: River could not record the failure meanwhile (its completer gives
// up after a few seconds, leaving the job 'running' until RESCUE_AFTER),
// and each failure would count an attempt and grow its backoff. Instead it
// waits until the database answers again, then snoozes for a moment — no
// attempt used — and runs again.
type DatabaseWait struct {
	river.MiddlewareDefaults
	Ping func(ctx context.Context) error // the database answers
	Max  time.Duration                   // longest wait; 0 means 10m
	Log  *slog.Logger
}

var _ rivertype.WorkerMiddleware = (*DatabaseWait)(nil)

// Work runs the job and, when the database was away, waits for it.
func (m *DatabaseWait) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	err := doInner(ctx)
	if !postgres.Unavailable(err) {
		return err
	}
	limit := m.Max
	if limit <= 0 {
		limit = recoverFor
	}
	log := m.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Warn("database unavailable; job waits for it", "job_id", job.ID, "kind", job.Kind, "error", err.Error())
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	defer cancel()
	for wait := 500 * time.Millisecond; m.Ping(wctx) != nil; wait = min(2*wait, 5*time.Second) {
		if sleep(wctx, wait) != nil {
			return err // still away: River records what it can
		}
	}
	log.Info("database back; job runs again", "job_id", job.ID, "kind", job.Kind)
	return river.JobSnooze(time.Second)
}
