package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/token"
	"github.com/rapport-dev/rapport/internal/webhook"
)

// fakeClock is a settable clock shared by the store and the workers.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time)     { c.mu.Lock(); c.now = t.UTC(); c.mu.Unlock() }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// settings are what a test may change before it starts workers.
type settings struct {
	clock       outreach.Clock
	transport   mailer.Transport
	throttle    Throttle
	sendTimeout time.Duration
	claimChunk  int
}

// bundle is what a jobs test works with.
type bundle struct {
	pool   *pgxpool.Pool
	url    string
	store  *postgres.Store
	clock  *fakeClock
	set    *settings
	svc    *campaign.Service
	mail   Mail
	insert *Client // insert-only River client
	signer *token.Signer
}

var (
	testSecret = "jobs-test-secret-0123456789abcdefghijklmnop"
	testCad    = Cadence{DefaultZone: time.UTC, Jitter: 10 * time.Minute}
)

const testSendBatch = 100

func newBundle(t testing.TB, url string, pool *pgxpool.Pool, clock outreach.Clock) *bundle {
	t.Helper()
	fc, _ := clock.(*fakeClock)
	store := postgres.NewStore(pool, clock)
	signer, err := token.New([]string{testSecret})
	require.NoError(t, err)
	renderer, err := render.New(render.Company{Name: "Test Co", Address: "1 Test Way"})
	require.NoError(t, err)
	pub, _ := url2("https://mail.example.test")
	links := token.Links{Signer: signer, Base: pub}
	insert, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	svc := campaign.New(store, Queue{Client: insert}, campaign.Config{Clock: clock, Renderer: renderer, Links: links,
		DefaultZone: testCad.DefaultZone, Jitter: testCad.Jitter})
	return &bundle{pool: pool, url: url, store: store, clock: fc, svc: svc, insert: insert, signer: signer,
		set:  &settings{clock: clock, transport: mustOutbox(t)},
		mail: Mail{Renderer: renderer, Links: links, From: &mail.Address{Address: "news@example.com"}}}
}

func setup(t *testing.T, clock outreach.Clock) *bundle {
	t.Helper()
	url := pgtest.URL(t)
	pool, err := postgres.Open(context.Background(), url, 40)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	b := newBundle(t, url, pool, clock)
	require.NoError(t, b.store.Seed(context.Background()))
	return b
}

func url2(s string) (*url.URL, error) { return url.Parse(s) }

func mustOutbox(t testing.TB) mailer.Transport {
	o, err := mailer.NewOutbox(t.TempDir(), nil)
	require.NoError(t, err)
	return o
}

// newWorkers builds the workers as cmd/rapport does, from the bundle's
// settings.
func (b *bundle) newWorkers() Workers {
	s := b.set
	m := b.mail
	m.Transport = s.transport
	return Workers{
		Plan: NewPlanWorker(b.store, PlanConfig{Clock: s.clock, Cadence: testCad, BatchSize: 1000, SendBatch: testSendBatch}),
		Send: NewSendWorker(b.store, SendConfig{Clock: s.clock, Cadence: testCad, Mail: m, Throttle: s.throttle,
			SendBatch: testSendBatch, ClaimChunk: s.claimChunk, Timeout: s.sendTimeout}),
		Replan:  NewReplanWorker(b.store, ReplanConfig{Clock: s.clock, Cadence: testCad, SendBatch: testSendBatch}),
		FireDue: NewFireDueWorker(b.svc),
		Webhook: NewWebhookDispatchWorker(b.store, WebhookConfig{Clock: s.clock, Secrets: b.signer,
			Client: webhook.NewClient(webhook.Options{AllowPrivate: true, Timeout: 5 * time.Second})}),
		Resend: NewResendLostWorker(b.store, ResendLostConfig{Clock: s.clock, SendBatch: testSendBatch}),
	}
}

// workers starts a River client working the given queues until the test
// ends.
func (b *bundle) workers(t *testing.T, queues map[string]int) *Client {
	t.Helper()
	return b.workersID(t, queues, "")
}

// workersID is workers with a client id, so tests can tell which process
// worked a job.
func (b *bundle) workersID(t testing.TB, queues map[string]int, id string) *Client {
	t.Helper()
	w := river.NewWorkers()
	Register(w, b.newWorkers())
	qc := map[string]river.QueueConfig{}
	for q, n := range queues {
		qc[q] = river.QueueConfig{MaxWorkers: n}
	}
	c, err := river.NewClient[pgx.Tx](riverpgxv5.New(b.pool), &river.Config{Logger: slog.New(slog.DiscardHandler),
		Workers: w, Queues: qc, FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, TestOnly: true, ID: id})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	return c
}

// startRun starts a run of c firing at fireAt, as the campaign service
// does.
func (b *bundle) startRun(t *testing.T, c outreach.Campaign, fireAt time.Time) int64 {
	t.Helper()
	var id int64
	err := b.store.InTx(context.Background(), func(tx *postgres.Tx) error {
		var err error
		id, err = b.svc.StartRun(context.Background(), tx, c, fireAt)
		return err
	})
	require.NoError(t, err)
	return id
}

// contacts inserts n contacts of a tier with COPY.
func (b *bundle) contacts(t *testing.T, n int, tier, zone string) {
	t.Helper()
	ctx := context.Background()
	now := b.set.clock.Now()
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{fmt.Sprintf("c%07d@example.com", i), tier, zone, now, now}
	}
	_, err := b.pool.CopyFrom(ctx, pgx.Identifier{"contacts"}, []string{"email", "tier", "timezone", "created_at", "updated_at"}, pgx.CopyFromRows(rows))
	require.NoError(t, err)
}

// campaign creates a marketing campaign for everyone.
func (b *bundle) campaign(t *testing.T, name string, priority int, expires time.Duration) outreach.Campaign {
	t.Helper()
	c, err := b.store.CreateCampaign(context.Background(), "test", outreach.Campaign{Name: name, Topic: "offers",
		Category: outreach.Marketing, Priority: priority, ExpiresAfter: expires,
		Content: outreach.Content{Subject: "Hi", Text: "Hello", HTML: "<p>Hello</p>"}})
	require.NoError(t, err)
	return c
}

// waitJobs waits until no job of the kinds is left to run.
func (b *bundle) waitJobs(t testing.TB, timeout time.Duration, kinds ...string) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		err := b.pool.QueryRow(context.Background(),
			"SELECT count(*) FROM river_job WHERE kind = ANY($1) AND state NOT IN ('completed', 'discarded', 'cancelled')", kinds).Scan(&n)
		return err == nil && n == 0
	}, timeout, 20*time.Millisecond)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now().UTC() }

type syncWriter struct {
	mu sync.Mutex
	b  []byte
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *syncWriter) String() string { w.mu.Lock(); defer w.mu.Unlock(); return string(w.b) }

func itoa(i int) string { return fmt.Sprint(i) }

// attach is setup for a helper process joining an existing test database.
func attach(t testing.TB, url string) *bundle {
	t.Helper()
	pool, err := postgres.Open(context.Background(), url, 20)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return newBundle(t, url, pool, realClock{})
}
