package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/riverqueue/river"

	"github.com/rapport-dev/rapport/internal/ops"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// ready is what /readyz checks in every role: the database answers and
// every migration is applied.
func (a *app) ready(ctx context.Context) error {
	if err := a.pool.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	return postgres.MigrationsCurrent(ctx, a.pool)
}

// serveOps serves the operations listener (OPS_ADDR) until ctx ends:
// /healthz, /readyz and /metrics, in every role.
func (a *app) serveOps(ctx context.Context) error {
	if a.cfg.OpsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.cfg.OpsAddr)
	if err != nil {
		return fmt.Errorf("OPS_ADDR: listen on %s: %w", a.cfg.OpsAddr, err)
	}
	srv := &http.Server{Handler: ops.Handler(a.ready, a.metrics.Handler(), a.log), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	a.log.Info("operations listener", "addr", ln.Addr().String())
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("operations listener", "error", err.Error())
		}
	}()
	return nil
}

// countJobs feeds River's job events into the job metrics until the
// subscription ends.
func (a *app) countJobs() func() {
	events, cancel := a.river.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed,
		river.EventKindJobSnoozed, river.EventKindJobCancelled)
	go func() {
		for ev := range events {
			var ran time.Duration
			if ev.JobStats != nil {
				ran = ev.JobStats.RunDuration
			}
			outcome := string(ev.Kind)
			switch ev.Kind {
			case river.EventKindJobCompleted:
				outcome = "completed"
			case river.EventKindJobFailed:
				outcome = "failed"
			case river.EventKindJobSnoozed:
				outcome = "snoozed"
			case river.EventKindJobCancelled:
				outcome = "cancelled"
			}
			a.metrics.Job(ev.Job.Kind, outcome, ran)
		}
	}()
	return cancel
}
