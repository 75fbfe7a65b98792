package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// newClientID names this process's River client: host, pid and a random
// part, so a restarted process is never mistaken for its predecessor (its
// heartbeat would otherwise vouch for the dead one's jobs).
func newClientID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, host)
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// startWorkers beats once (so the client's first jobs are never judged
// without a heartbeat), then starts River and the heartbeat loop. River's
// Start gets a context the signal never cancels: cancelling it is River's
// hard stop, which would cut running sends short. Stopping is stopWorkers'
// job.
func (a *app) startWorkers(ctx context.Context) error {
	if err := a.beater.Beat(ctx); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	runCtx := context.WithoutCancel(ctx)
	if err := a.river.Start(runCtx); err != nil {
		return fmt.Errorf("start workers: %w", err)
	}
	beatCtx, stopBeat := context.WithCancel(runCtx)
	a.stopBeat = stopBeat
	go a.beater.Run(beatCtx)
	a.stopCounting = a.countJobs()
	return nil
}

// stopWorkers stops River gracefully: no more fetching; running send
// batches finish the chunk in hand, record it and claim no more; planning
// stops after its batch. A second SIGTERM/SIGINT, or SHUTDOWN_TIMEOUT,
// makes it a hard stop that cancels what is still running.
func (a *app) stopWorkers() {
	start := time.Now()
	// Listening for a second signal before saying so: once the line is
	// logged, a second signal is a hard stop.
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	a.log.Info("stopping workers: running batches finish and record", "timeout", a.cfg.ShutdownTimeout.String())
	close(a.stopping)
	soft, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	go func() {
		select {
		case <-again:
			a.log.Warn("second signal: hard stop")
			cancel()
		case <-soft.Done():
		}
	}()
	if err := a.river.Stop(soft); err != nil {
		a.log.Warn("hard stop: cancelling the jobs still running", "error", err.Error())
		hard, cancelHard := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancelHard()
		if err := a.river.StopAndCancel(hard); err != nil {
			a.log.Error("stopping workers", "error", err.Error())
		}
	}
	a.stopBeat()
	a.stopCounting()
	forget, cancelForget := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelForget()
	if err := a.beater.Forget(forget); err != nil {
		a.log.Warn("could not remove the heartbeat", "error", err.Error())
	}
	a.log.Info("workers stopped", "after", time.Since(start).Round(time.Millisecond).String())
}
