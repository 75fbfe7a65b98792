package jobs

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/webhook"
)

// QueueWebhook is the queue of the outbound webhook dispatcher, apart from
// planning so a slow receiver never delays a campaign.
const QueueWebhook = "webhook"

// WebhookDispatchInterval is how often the leader enqueues a dispatch; one
// dispatch delivers everything due and returns, so an event reaches its
// endpoint within about this long.
const WebhookDispatchInterval = 2 * time.Second

// WebhookDispatchArgs delivers the due outbound webhook messages.
type WebhookDispatchArgs struct{}

// Kind names the job.
func (WebhookDispatchArgs) Kind() string { return "webhook_dispatch" }

// InsertOpts keeps one dispatch pending or running at a time: streams are
// ordered per contact, and two dispatchers would race for a stream's head.
func (WebhookDispatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhook, MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
			rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
}

// WebhookStore is what the dispatcher reads and writes (postgres.Store).
type WebhookStore interface {
	DueWebhookMessages(ctx context.Context, limit int) ([]postgres.WebhookMessage, error)
	RecordWebhookAttempt(ctx context.Context, a postgres.WebhookAttempt) error
	PruneWebhooks(ctx context.Context, limit int) (int64, error)
}

// Opener decrypts an endpoint's signing secret (token.Signer).
type Opener interface {
	Open(sealed []byte) ([]byte, error)
}

// Deliverer makes one signed delivery attempt (webhook.Client).
type Deliverer interface {
	Deliver(ctx context.Context, endpointURL string, secrets []string, id string, ts time.Time, payload []byte) webhook.Result
}

// WebhookConfig configures the dispatcher.
type WebhookConfig struct {
	Clock   outreach.Clock
	Log     *slog.Logger
	Secrets Opener
	Client  Deliverer
	// Parallel is how many deliveries run at once (8 when zero); at most
	// one per (endpoint, contact) stream, which keeps each stream in order.
	Parallel int
	// Budget bounds one dispatch run (30 s when zero): it stops taking new
	// messages then, and the next run goes on.
	Budget   time.Duration
	Stopping <-chan struct{}
	// Rand draws retry jitter; nil uses a random seed.
	Rand *rand.Rand
	// Metrics counts attempts by outcome (metrics.Registry); nil: none.
	Metrics WebhookMetrics
}

// WebhookMetrics counts attempts by outcome: delivered, retry, dead,
// disabled.
type WebhookMetrics interface {
	WebhookAttempt(outcome string)
}

// WebhookDispatchWorker delivers outbound webhook messages, retrying with
// webhook.Backoff and disabling an endpoint that failed for
// webhook.DisableAfter or answered 410 Gone.
type WebhookDispatchWorker struct {
	river.WorkerDefaults[WebhookDispatchArgs]
	store WebhookStore
	cfg   WebhookConfig
	mu    sync.Mutex // guards cfg.Rand and pruned
	// pruned is when this process last pruned old events.
	pruned time.Time
}

// pruneEvery is how often a dispatcher deletes events past retention.
const pruneEvery = time.Minute

// NewWebhookDispatchWorker returns the worker.
func NewWebhookDispatchWorker(store WebhookStore, cfg WebhookConfig) *WebhookDispatchWorker {
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 30 * time.Second
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.Clock == nil {
		cfg.Clock = outreach.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &WebhookDispatchWorker{store: store, cfg: cfg}
}

// Timeout covers the budget plus the last deliveries' own timeout.
func (w *WebhookDispatchWorker) Timeout(*river.Job[WebhookDispatchArgs]) time.Duration {
	return w.cfg.Budget + webhook.DefaultTimeout + 15*time.Second
}

// Work delivers due messages, a round at a time, until none is due, the
// budget is spent or the process stops.
func (w *WebhookDispatchWorker) Work(ctx context.Context, _ *river.Job[WebhookDispatchArgs]) error {
	deadline := time.Now().Add(w.cfg.Budget)
	for time.Now().Before(deadline) && !closed(w.cfg.Stopping) {
		due, err := w.store.DueWebhookMessages(ctx, w.cfg.Parallel*4)
		if err != nil {
			return err
		}
		if len(due) == 0 {
			return w.prune(ctx)
		}
		if err := w.round(ctx, due); err != nil {
			return err
		}
	}
	return nil
}

// prune deletes a slice of the events past retention, once a minute.
func (w *WebhookDispatchWorker) prune(ctx context.Context) error {
	w.mu.Lock()
	due := time.Since(w.pruned) >= pruneEvery
	if due {
		w.pruned = time.Now()
	}
	w.mu.Unlock()
	if !due {
		return nil
	}
	_, err := w.store.PruneWebhooks(ctx, 5000)
	return err
}

// round delivers one batch of stream heads, cfg.Parallel at a time.
func (w *WebhookDispatchWorker) round(ctx context.Context, due []postgres.WebhookMessage) error {
	sem := make(chan struct{}, w.cfg.Parallel)
	var wg sync.WaitGroup
	errs := make([]error, len(due))
	for i, m := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = w.store.RecordWebhookAttempt(ctx, w.attempt(ctx, m))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// attempt delivers m once and decides its next state.
func (w *WebhookDispatchWorker) attempt(ctx context.Context, m postgres.WebhookMessage) postgres.WebhookAttempt {
	secret, err := w.cfg.Secrets.Open(m.SecretSealed)
	var res webhook.Result
	if err != nil {
		// A secret this server cannot open (SECRET_KEY changed without
		// keeping the old key) is a failure like any other: it is retried,
		// and the endpoint is disabled if it persists.
		res = webhook.Result{Err: errors.New("cannot open the endpoint's signing secret: " + err.Error())}
	} else {
		res = w.cfg.Client.Deliver(ctx, m.URL, []string{string(secret)}, m.EventID, w.cfg.Clock.Now(), m.Payload)
	}
	w.mu.Lock()
	a := NextWebhookState(m, res, w.cfg.Clock.Now(), w.cfg.Rand)
	w.mu.Unlock()
	if w.cfg.Metrics != nil {
		w.cfg.Metrics.WebhookAttempt(attemptOutcome(a))
	}
	if !a.Delivered {
		w.cfg.Log.Info("webhook delivery failed", "endpoint", m.EndpointID, "event", m.EventID, "attempt", m.Attempts+1,
			"status", res.StatusCode, "error", a.Error, "dead", a.Dead, "disabled", a.Disable)
	}
	return a
}

func attemptOutcome(a postgres.WebhookAttempt) string {
	switch {
	case a.Delivered:
		return "delivered"
	case a.Disable:
		return "disabled"
	case a.Dead:
		return "dead"
	}
	return "retry"
}

// NextWebhookState is the retry policy, a pure function: a 2xx delivers;
// 410 Gone disables the endpoint at once (the message waits for it to be
// re-enabled); any other failure retries after webhook.Backoff (or the
// receiver's Retry-After, if longer) until webhook.MaxAttempts, and
// disables the endpoint once it has failed for webhook.DisableAfter.
func NextWebhookState(m postgres.WebhookMessage, res webhook.Result, now time.Time, rng *rand.Rand) postgres.WebhookAttempt {
	a := postgres.WebhookAttempt{Message: m, StatusCode: res.StatusCode, Latency: res.Latency}
	switch {
	case res.Err != nil:
		a.Error = trimError(res.Err.Error())
	case !res.Success:
		a.Error = "HTTP " + strconv.Itoa(res.StatusCode)
		if res.Location != "" {
			a.Error += " (redirect to " + res.Location + "; update the endpoint's URL)"
		} else if res.Excerpt != "" {
			a.Error += ": " + res.Excerpt
		}
		a.Error = trimError(a.Error)
	}
	if res.Success {
		a.Delivered = true
		return a
	}
	if res.Gone() {
		a.NextAt, a.Disable, a.DisableReason = now, true, "the endpoint answered 410 Gone"
		return a
	}
	attempt := m.Attempts + 1
	if attempt >= webhook.MaxAttempts {
		a.Dead = true
	} else {
		a.NextAt = now.Add(max(webhook.Backoff(attempt, rng), res.RetryAfter))
	}
	first := now
	if m.FailingSince != nil {
		first = *m.FailingSince
	}
	if webhook.Disable(first, now) {
		a.Disable, a.DisableReason = true, "failing for more than "+webhook.DisableAfter.String()
	}
	return a
}

// trimError keeps the delivery log's text short and on one line.
func trimError(s string) string { return outreach.OneLine(s, 500) }
