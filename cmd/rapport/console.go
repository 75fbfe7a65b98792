package main

import (
	"time"

	"github.com/rapport-dev/rapport/internal/console"
)

// newConsole builds the web console over the same store and services as
// the API. Its sessions expire on their own; serve deletes the expired
// ones every five minutes.
func (a *app) newConsole() (*console.Console, error) {
	return console.New(console.Deps{Store: a.store, Throttles: a.limiter, Campaigns: a.campaigns, Insights: a.insights, Log: a.log,
		PublicURL: a.cfg.PublicURL, IdleTimeout: a.cfg.Console.IdleTimeout, Lifetime: a.cfg.Console.Lifetime,
		SessionCleanup: 5 * time.Minute, Version: version, ImportBodyLimit: a.cfg.ImportBodyLimit})
}
