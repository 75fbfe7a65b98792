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

	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/token"
)

// fakeClock is a settable clock shared by the store and the workers.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time)     { c.mu.Lock(); c.now = t.UTC(); c.mu.Unlock() }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// bundle is what a jobs test works with.
type bundle struct {
	pool     *pgxpool.Pool
	url      string
	store    *postgres.Store
	clock    *fakeClock
	deps     *Deps
	launcher *Launcher
	insert   *Client // insert-only River client
}

func setup(t *testing.T, clock outreach.Clock) *bundle {
	t.Helper()
	url := pgtest.URL(t)
	pool, err := postgres.Open(context.Background(), url, 40)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	fc, _ := clock.(*fakeClock)
	store := postgres.NewStore(pool, clock)
	require.NoError(t, store.Seed(context.Background()))
	signer, err := token.New([]string{"jobs-test-secret-0123456789abcdefghijklmnop"})
	require.NoError(t, err)
	renderer, err := render.New(render.Company{Name: "Test Co", Address: "1 Test Way"})
	require.NoError(t, err)
	pub, _ := url2("https://mail.example.test")
	deps := &Deps{Store: store, Clock: clock, Log: slog.New(slog.DiscardHandler), Renderer: renderer,
		Transport: mustOutbox(t), Signer: signer, PublicURL: pub, From: &mail.Address{Address: "news@example.com"},
		DefaultZone: time.UTC, Jitter: 10 * time.Minute, BatchSize: 1000, SendBatch: 100}
	insert, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	l := &Launcher{Store: store, Client: insert, Clock: clock, Deps: deps}
	return &bundle{pool: pool, url: url, store: store, clock: fc, deps: deps, launcher: l, insert: insert}
}

func url2(s string) (*url.URL, error) { return url.Parse(s) }

func mustOutbox(t testing.TB) mailer.Transport {
	o, err := mailer.NewOutbox(t.TempDir(), nil)
	require.NoError(t, err)
	return o
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
	Register(w, b.deps, b.launcher)
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

// contacts inserts n contacts of a tier with COPY.
func (b *bundle) contacts(t *testing.T, n int, tier, zone string) {
	t.Helper()
	ctx := context.Background()
	now := b.deps.Clock.Now()
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
	b := &bundle{pool: pool, url: url}
	clock := realClock{}
	b.store = postgres.NewStore(pool, clock)
	signer, _ := token.New([]string{"jobs-test-secret-0123456789abcdefghijklmnop"})
	renderer, _ := render.New(render.Company{Name: "Test Co", Address: "1 Test Way"})
	pub, _ := url2("https://mail.example.test")
	b.deps = &Deps{Store: b.store, Clock: clock, Log: slog.New(slog.DiscardHandler), Renderer: renderer,
		Transport: mustOutbox(t), Signer: signer, PublicURL: pub, From: &mail.Address{Address: "news@example.com"},
		DefaultZone: time.UTC, Jitter: 10 * time.Minute, BatchSize: 1000, SendBatch: 100}
	insert, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	b.insert = insert
	b.launcher = &Launcher{Store: b.store, Client: insert, Clock: clock, Deps: b.deps}
	return b
}
