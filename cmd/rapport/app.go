package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"riverqueue.com/riverui"

	"github.com/rapport-dev/rapport/internal/api"
	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/config"
	"github.com/rapport-dev/rapport/internal/endpoints"
	"github.com/rapport-dev/rapport/internal/feedback"
	"github.com/rapport-dev/rapport/internal/heartbeat"
	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/metrics"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/prefcenter"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/throttle"
	"github.com/rapport-dev/rapport/internal/token"
	"github.com/rapport-dev/rapport/internal/tuning"
	"github.com/rapport-dev/rapport/internal/webhook"
	"github.com/rapport-dev/rapport/jobs"
)

// newLogger logs at cfgLevel, as text or JSON (LOG_FORMAT); with no format
// given, text when w is a terminal (a person reading) and JSON otherwise
// (a log collector).
func newLogger(cfgLevel, format string, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfgLevel))
	opts := &slog.HandlerOptions{Level: level}
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// openDB connects to DATABASE_URL for commands that need only the
// database, so `migrate` does not demand SECRET_KEY.
func openDB(ctx context.Context, getenv func(string) string, maxConns int32) (*pgxpool.Pool, error) {
	url := getenv("DATABASE_URL")
	if url == "" {
		return nil, errors.New("DATABASE_URL: is required, e.g. postgres://user@localhost:5432/rapport")
	}
	return postgres.Open(ctx, url, maxConns)
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	log := newLogger("info", getenv("LOG_FORMAT"), stderr)
	pool, err := openDB(ctx, getenv, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	dir := "up"
	if len(args) > 0 {
		dir = args[0]
	}
	switch dir {
	case "up":
		return postgres.Migrate(ctx, pool, log)
	case "down":
		return postgres.MigrateDown(ctx, pool, false, log)
	case "down-all":
		return postgres.MigrateDown(ctx, pool, true, log)
	}
	return fmt.Errorf("migrate: unknown direction %q (up, down or down-all)", dir)
}

func keys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: rapport keys create --role admin|marketer|viewer --name NAME")
	}
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "admin, marketer or viewer")
	name := fs.String("name", "", "what the key is for")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	pool, err := openDB(ctx, getenv, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := postgres.NewStore(pool, outreach.SystemClock{})
	plain, _, err := store.CreateKey(ctx, "cli", *name, outreach.Role(*role))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, plain)
	return nil
}

// app is a running rapport: what serve builds and tears down.
type app struct {
	cfg       *config.Config
	log       *slog.Logger
	pool      *pgxpool.Pool
	store     *postgres.Store
	river     *jobs.Client
	campaigns *campaign.Service
	insights  *tuning.Service
	renderer  *render.Renderer
	signer    *token.Signer
	limiter   *throttle.Limiter
	metrics   *metrics.Registry
	feedback  *feedback.Service
	endpoints *endpoints.Service
	// stopping is closed on the first SIGTERM/SIGINT: running batches
	// finish the chunk in hand and claim no more.
	stopping     chan struct{}
	beater       *heartbeat.Beater
	stopBeat     context.CancelFunc
	stopCounting func()
}

// roles says what one serve process does. More worker processes can be
// added against the same database; River spreads the jobs and the caps and
// throttles hold across all of them (they live in PostgreSQL).
type roles struct {
	api, send, plan bool
}

func parseRole(r string) (roles, error) {
	switch r {
	case "all":
		return roles{api: true, send: true, plan: true}, nil
	case "api":
		return roles{api: true}, nil
	case "worker":
		return roles{send: true}, nil
	case "scheduler":
		return roles{plan: true}, nil
	}
	return roles{}, fmt.Errorf("serve: unknown role %q (all, api, worker or scheduler)", r)
}

func (r roles) works() bool { return r.send || r.plan }

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "all", "all; api (HTTP only); worker (sends); scheduler (planning and recurring firings)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := parseRole(*role)
	if err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	a, err := build(ctx, cfg, log, r)
	if err != nil {
		return err
	}
	defer a.pool.Close()
	if r.api {
		if err := a.bootstrapKey(ctx, stdout); err != nil {
			return err
		}
		if err := a.bootstrapUser(ctx, stdout); err != nil {
			return err
		}
	}
	opsCtx, stopOps := context.WithCancel(ctx)
	defer stopOps()
	if err := a.serveOps(opsCtx); err != nil {
		return err
	}
	if r.api {
		if err := a.serveBounces(opsCtx); err != nil {
			return err
		}
	}
	if r.works() {
		if err := a.startWorkers(ctx); err != nil {
			return err
		}
		log.Info("workers started", "role", *role, "send_workers", cfg.SendWorkers, "river_client_id", a.river.ID())
	}
	// A listener that fails stops the process as a signal would.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var srvErr error
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		if r.works() {
			// Graceful: in-flight sends finish and are recorded.
			a.stopWorkers()
		}
	}()
	if r.api {
		srvErr = a.serveHTTP(ctx)
		stop()
	}
	<-stopped
	log.Info("stopped")
	return srvErr
}

func build(ctx context.Context, cfg *config.Config, log *slog.Logger, r roles) (*app, error) {
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, int32(2*cfg.SendWorkers+20))
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*app, error) { pool.Close(); return nil, err }
	if err := postgres.Migrate(ctx, pool, log); err != nil {
		return fail(err)
	}
	clock := outreach.SystemClock{}
	store := postgres.NewStore(pool, clock)
	if err := store.Seed(ctx); err != nil {
		return fail(err)
	}
	tiers, err := store.Tiers(ctx)
	if err != nil {
		return fail(err)
	}
	if err := checkRetention(tiers, cfg.Retention.Deliveries); err != nil {
		return fail(err)
	}
	store.SetRetention(cfg.Retention.Deliveries)
	signer, err := token.New(cfg.SecretKeys)
	if err != nil {
		return fail(fmt.Errorf("SECRET_KEY: %w", err))
	}
	renderer, err := render.New(render.Company{Name: cfg.CompanyName, Address: cfg.CompanyAddress})
	if err != nil {
		return fail(err)
	}
	renderer = renderer.WithLimits(render.Limits{MaxBytes: cfg.TemplateMaxBytes, Timeout: cfg.TemplateTimeout})
	transport, err := newTransport(cfg)
	if err != nil {
		return fail(err)
	}
	installation, err := store.InstallationID(ctx)
	if err != nil {
		return fail(err)
	}
	clientID := newClientID()
	mo := metrics.Options{Build: metrics.Build{Version: version, Commit: commit}, Depths: store,
		Queues: []string{jobs.QueuePlan, jobs.QueueSend, jobs.QueueWebhook}}
	if r.works() {
		mo.ClientID = clientID // a process that works may lead the cluster
	}
	reg := metrics.New(mo)
	limiter := throttle.New(store, clock, throttle.Config{})
	links := token.Links{Signer: signer, Base: cfg.PublicURL}
	// The campaign service enqueues through an insert-only River client,
	// made before the workers that use the service: one-way wiring.
	inserter, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), &river.Config{Logger: riverLogger(log)})
	if err != nil {
		return fail(err)
	}
	campaigns := campaign.New(store, jobs.Queue{Client: inserter}, campaign.Config{Clock: clock, Log: log, Renderer: renderer,
		Links: links, DefaultZone: cfg.DefaultTimezone, Jitter: cfg.TierJitter,
		Mail: campaign.Mail{From: cfg.From.String(), BounceDomain: cfg.Feedback.BounceDomain, ListIDDomain: cfg.Feedback.ListIDDomain,
			FeedbackSender: cfg.Feedback.FeedbackSender}})
	insights := tuning.New(store, campaigns, tuning.Config{Clock: clock, Log: log, DefaultZone: cfg.DefaultTimezone})
	sendTimeout, planTimeout := jobs.Timeouts(cfg.RescueAfter)
	cad := jobs.Cadence{DefaultZone: cfg.DefaultTimezone, Jitter: cfg.TierJitter}
	stopping := make(chan struct{})
	workers := jobs.Workers{
		Plan: jobs.NewPlanWorker(store, jobs.PlanConfig{Clock: clock, Log: log, Cadence: cad, BatchSize: 5000, SendBatch: cfg.SendBatch,
			Timeout: planTimeout, Stopping: stopping}),
		Send: jobs.NewSendWorker(store, jobs.SendConfig{Clock: clock, Log: log, Cadence: cad,
			Mail: jobs.Mail{Renderer: renderer, Transport: transport, Links: links, From: cfg.From, Installation: installation,
				BounceDomain: cfg.Feedback.BounceDomain, ListIDDomain: cfg.Feedback.ListIDDomain, FeedbackSender: cfg.Feedback.FeedbackSender},
			Throttle: limiter, Metrics: reg, SendBatch: cfg.SendBatch, ClaimChunk: cfg.ClaimChunk, Timeout: sendTimeout, Stopping: stopping}),
		Replan: jobs.NewReplanWorker(store, jobs.ReplanConfig{Clock: clock, Cadence: cad, SendBatch: cfg.SendBatch, Metrics: reg,
			Stopping: stopping}),
		FireDue: jobs.NewFireDueWorker(campaigns),
		Webhook: jobs.NewWebhookDispatchWorker(store, jobs.WebhookConfig{Clock: clock, Log: log, Secrets: signer,
			Client: webhook.NewClient(webhook.Options{AllowPrivate: cfg.WebhookAllowPrivate}), Stopping: stopping, Metrics: reg}),
		Resend: jobs.NewResendLostWorker(store, jobs.ResendLostConfig{Clock: clock, Log: log, SendBatch: cfg.SendBatch}),
		Rollup: jobs.NewInsightRollupWorker(insights),
		Prune:  jobs.NewPruneHistoryWorker(store, cfg.Retention.Deliveries, log),
	}
	rc, err := newRiver(pool, cfg, log, workers, planTimeout, clientID, r)
	if err != nil {
		return fail(err)
	}
	return &app{cfg: cfg, log: log, pool: pool, store: store, river: rc, campaigns: campaigns, insights: insights, renderer: renderer,
		signer: signer, limiter: limiter, metrics: reg, stopping: stopping,
		feedback: &feedback.Service{Store: store, Signer: signer, Installation: installation, SoftLimit: cfg.SoftBounceLimit,
			Log: log, Counter: reg},
		endpoints: endpoints.New(store, signer, clock, cfg.WebhookAllowPrivate),
		beater:    heartbeat.New(store, clientID, heartbeat.Config{Log: log})}, nil
}

// checkRetention refuses to start when a tier's rule reads further back
// than deliveries are kept: its decisions would rest on a history the
// prune_history job has cut short.
func checkRetention(tiers []outreach.Tier, retention time.Duration) error {
	var errs []error
	for _, t := range tiers {
		for _, f := range t.Rule.WithinRetention(retention) {
			errs = append(errs, fmt.Errorf("DELIVERY_RETENTION: %s is shorter than tier %s's %s; lengthen it or shorten the rule",
				outreach.FormatDuration(retention), t.Key, f.Field))
		}
	}
	return errors.Join(errs...)
}

func newTransport(cfg *config.Config) (mailer.Transport, error) {
	var dkim *mailer.DKIMSigner
	if cfg.DKIM != nil {
		var err error
		if dkim, err = mailer.NewDKIM(cfg.DKIM.Domain, cfg.DKIM.Selector, cfg.DKIM.KeyPEM); err != nil {
			return nil, fmt.Errorf("DKIM_KEY_FILE: %w", err)
		}
	}
	if cfg.SMTP == nil {
		return mailer.NewOutbox(cfg.OutboxDir, dkim)
	}
	s := cfg.SMTP
	return mailer.NewPool(mailer.SMTPConfig{Host: s.Host, Port: s.Port, Username: s.Username, Password: s.Password,
		TLS: s.TLS, Timeout: s.Timeout, PoolSize: cfg.SMTPPoolSize}, dkim), nil
}

// newRiver builds the River client. Its fetch settings matter: with the
// default 100 ms FetchCooldown a client works at most MaxWorkers/0.1 s jobs
// a second; sends are batched, but a short cooldown keeps latency low.
func newRiver(pool *pgxpool.Pool, cfg *config.Config, log *slog.Logger, ws jobs.Workers, jobTimeout time.Duration, id string, r roles) (*jobs.Client, error) {
	rc := &river.Config{Logger: riverLogger(log), ID: id,
		Middleware: []rivertype.Middleware{&jobs.DatabaseWait{Ping: pool.Ping, Log: log}},
		// How long finished jobs stay in river_job (the leader's
		// maintenance deletes them after): RIVER_*_RETENTION, River's own
		// defaults unless set. Lost-delivery sweeps look at live jobs only.
		CompletedJobRetentionPeriod: cfg.Retention.RiverCompleted,
		CancelledJobRetentionPeriod: cfg.Retention.RiverCancelled,
		DiscardedJobRetentionPeriod: cfg.Retention.RiverDiscarded,
		// RIVER_POLL_ONLY: no LISTEN/NOTIFY, for PgBouncer in transaction
		// mode (docs/scaling.md); jobs are found by polling
		// (FetchPollInterval) and a new leader within River's election
		// interval.
		PollOnly: cfg.RiverPollOnly}
	if r.works() {
		workers := river.NewWorkers()
		jobs.Register(workers, ws)
		rc.Workers = workers
		// Every working client may become River's leader, which enqueues
		// the periodic fire_due job; scheduler processes work it.
		rc.PeriodicJobs = jobs.PeriodicJobs(ws)
		rc.Queues = map[string]river.QueueConfig{}
		if r.plan {
			rc.Queues[jobs.QueuePlan] = river.QueueConfig{MaxWorkers: 2}
			// One dispatcher at a time keeps each contact's events in
			// order; it delivers to several endpoints in parallel itself.
			rc.Queues[jobs.QueueWebhook] = river.QueueConfig{MaxWorkers: 1}
			rc.Queues[jobs.QueueInsight] = river.QueueConfig{MaxWorkers: 1}
		}
		if r.send {
			rc.Queues[jobs.QueueSend] = river.QueueConfig{MaxWorkers: cfg.SendWorkers}
		}
		// Fetch settings bound throughput: a client fetches at most once
		// per FetchCooldown, so with River's 100 ms default it could start
		// at most MaxWorkers/0.1 s jobs a second. Sends are batched
		// (SEND_BATCH per job), and 10 ms keeps both latency and idle
		// polling low. The poll interval bounds how late a send job
		// snoozed for its throttle turn is picked up again.
		rc.FetchCooldown = 10 * time.Millisecond
		rc.FetchPollInterval = 250 * time.Millisecond
		rc.JobTimeout = jobTimeout // workers set their own; this bounds the rest
		rc.RescueStuckJobsAfter = cfg.RescueAfter
	}
	return river.NewClient[pgx.Tx](riverpgxv5.New(pool), rc)
}

// bootstrapKey prints a first admin key when there is none, so a newcomer
// can call the API; it is shown once and only its hash is kept.
func (a *app) bootstrapKey(ctx context.Context, stdout io.Writer) error {
	n, err := a.store.KeyCount(ctx)
	if err != nil || n > 0 {
		return err
	}
	plain, _, err := a.store.CreateKey(ctx, "bootstrap", "first admin key", outreach.RoleAdmin)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nFirst admin API key (shown once, keep it):\n\n    %s\n\n", plain)
	return nil
}

func (a *app) serveHTTP(ctx context.Context) error {
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(a.river, nil), Logger: a.log, Prefix: "/riverui"})
	if err != nil {
		return fmt.Errorf("river ui: %w", err)
	}
	if err := ui.Start(ctx); err != nil {
		return fmt.Errorf("river ui: %w", err)
	}
	prov, err := providers(a.cfg, a.feedback)
	if err != nil {
		return err
	}
	pages := prefcenter.New(prefcenter.Deps{Store: a.store, Signer: a.signer, SecretKeys: a.cfg.SecretKeys,
		Company: a.renderer.Company(), PublicURL: a.cfg.PublicURL, Log: a.log, Clock: outreach.SystemClock{}})
	con, err := a.newConsole()
	if err != nil {
		return err
	}
	defer con.Close()
	srv := api.New(api.Deps{
		RiverUI: ui, Pages: pages, Console: con, PublicURL: a.cfg.PublicURL,
		Store: a.store, Campaigns: a.campaigns, Insights: a.insights, Log: a.log, Clock: outreach.SystemClock{},
		Ready: a.ready, HTTPMetrics: a.metrics,
		BodyLimit: a.cfg.BodyLimit, TrustedProxies: a.cfg.TrustedProxies,
		Throttles: throttleSettings{a.limiter}, Providers: prov, Endpoints: a.endpoints,
		EventsSecret: a.cfg.EventsSecret, SoftBounceLimit: a.cfg.SoftBounceLimit, ImportBodyLimit: a.cfg.ImportBodyLimit,
	})
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.HTTPAddr, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: a.cfg.ReadHeaderTimeout, ReadTimeout: time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	a.log.Info("listening", "addr", ln.Addr().String(), "public_url", a.cfg.PublicURL.String())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		return err
	}
	return nil
}

// throttleSettings adapts the limiter to the API: a change answers with
// the settings as stored.
type throttleSettings struct{ l *throttle.Limiter }

func (t throttleSettings) Get(ctx context.Context) (throttle.Settings, error) { return t.l.Get(ctx) }

func (t throttleSettings) Put(ctx context.Context, actor string, s throttle.Settings) (throttle.Settings, error) {
	if _, err := t.l.Put(ctx, actor, s); err != nil {
		return throttle.Settings{}, err
	}
	return t.l.Get(ctx)
}
