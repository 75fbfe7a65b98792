package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/endpoints"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/webhook"
)

func TestNextWebhookState(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	rng := func() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
	m := postgres.WebhookMessage{ID: 1, EndpointID: 2, Attempts: 0}

	a := NextWebhookState(m, webhook.Result{StatusCode: 204, Success: true}, now, rng())
	require.True(t, a.Delivered)
	require.False(t, a.Dead || a.Disable)

	a = NextWebhookState(m, webhook.Result{StatusCode: 500, Excerpt: "boom"}, now, rng())
	require.False(t, a.Delivered || a.Dead || a.Disable)
	require.Equal(t, "HTTP 500: boom", a.Error)
	d := a.NextAt.Sub(now)
	require.True(t, d >= 4*time.Second && d <= 6*time.Second, "first retry after about 5s, got %s", d)

	// A longer Retry-After wins; a shorter one does not shorten the backoff.
	a = NextWebhookState(m, webhook.Result{StatusCode: 429, RetryAfter: time.Hour}, now, rng())
	require.Equal(t, now.Add(time.Hour), a.NextAt)
	a = NextWebhookState(m, webhook.Result{StatusCode: 503, RetryAfter: time.Second}, now, rng())
	require.Greater(t, a.NextAt.Sub(now), 3*time.Second)

	a = NextWebhookState(m, webhook.Result{Err: errors.New("dial tcp: connection refused")}, now, rng())
	require.Equal(t, "dial tcp: connection refused", a.Error)
	require.Zero(t, a.StatusCode)

	a = NextWebhookState(m, webhook.Result{StatusCode: 301, Location: "https://new.example.com/"}, now, rng())
	require.Contains(t, a.Error, "redirect to https://new.example.com/")
	require.False(t, a.Delivered, "a redirect is a failure, never followed")

	last := m
	last.Attempts = webhook.MaxAttempts - 1
	a = NextWebhookState(last, webhook.Result{StatusCode: 500}, now, rng())
	require.True(t, a.Dead, "the 12th failed attempt is the last")

	a = NextWebhookState(m, webhook.Result{StatusCode: http.StatusGone}, now, rng())
	require.True(t, a.Disable)
	require.False(t, a.Dead, "a 410 keeps the message for when the endpoint is re-enabled")
	require.Contains(t, a.DisableReason, "410")

	since := now.Add(-webhook.DisableAfter - time.Minute)
	failing := m
	failing.FailingSince = &since
	a = NextWebhookState(failing, webhook.Result{StatusCode: 500}, now, rng())
	require.True(t, a.Disable)
	require.Contains(t, a.DisableReason, "failing for more than 72h")
	recent := now.Add(-time.Hour)
	failing.FailingSince = &recent
	require.False(t, NextWebhookState(failing, webhook.Result{StatusCode: 500}, now, rng()).Disable)

	// The log text stays one line of valid UTF-8, bounded.
	long := string(make([]byte, 2000)) + "\xff"
	a = NextWebhookState(m, webhook.Result{Err: errors.New("x\n" + long)}, now, rng())
	require.LessOrEqual(t, len(a.Error), 500)
	require.NotContains(t, a.Error, "\n")
}

// receiver is a real HTTP endpoint that checks every signature, fails the
// first failFirst requests and records what it accepted.
type receiver struct {
	t      *testing.T
	secret string
	clock  *fakeClock
	mu     sync.Mutex
	status func(n int) int // the answer to the n-th request (1-based)
	n      int
	bodies map[string][]byte    // event id → body
	order  map[float64][]string // contact id → event types, in order of acceptance
	forged int
}

func newReceiver(t *testing.T, clock *fakeClock, status func(n int) int) (*receiver, *httptest.Server) {
	r := &receiver{t: t, clock: clock, status: status, bodies: map[string][]byte{}, order: map[float64][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := webhook.Verify([]string{r.secret}, req.Header, body, r.clock.Now(), 0); err != nil {
		r.forged++
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.n++
	code := r.status(r.n)
	if code >= 300 {
		http.Error(w, "not now", code)
		return
	}
	id := req.Header.Get(webhook.HeaderID)
	if prev, dup := r.bodies[id]; dup {
		require.Equal(r.t, string(prev), string(body), "a redelivery carries the same event")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	r.bodies[id] = body
	var ev struct {
		ID   string         `json:"id"`
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	require.NoError(r.t, json.Unmarshal(body, &ev))
	require.Equal(r.t, id, ev.ID, "webhook-id is the payload's id")
	cid, _ := ev.Data["contact_id"].(float64)
	r.order[cid] = append(r.order[cid], ev.Type)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) accepted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func webhookClock() *fakeClock {
	c := &fakeClock{}
	c.Set(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	return c
}

// register makes an endpoint for every event type through the service
// the API uses, and gives the receiver its secret.
func registerEndpoint(t *testing.T, b *bundle, r *receiver, url string) postgres.WebhookEndpoint {
	t.Helper()
	svc := endpoints.New(b.store, b.signer, b.clock, true)
	e, secret, err := svc.Create(context.Background(), "test", endpoints.Draft{URL: url, Events: postgres.WebhookEventTypes})
	require.NoError(t, err)
	require.Regexp(t, `^whsec_`, secret)
	r.secret = secret
	return e
}

func (b *bundle) dispatcher() *WebhookDispatchWorker {
	return NewWebhookDispatchWorker(b.store, WebhookConfig{Clock: b.clock, Secrets: b.signer,
		Client: webhook.NewClient(webhook.Options{AllowPrivate: true, Timeout: 5 * time.Second}),
		Rand:   rand.New(rand.NewPCG(7, 7))})
}

func (b *bundle) pending(t *testing.T) int {
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_messages WHERE state = 'pending'`).Scan(&n))
	return n
}

// TestWebhookDispatch: a receiver that fails the first three attempts
// still gets every event, each contact's in the order they happened, and
// every request carries a signature that verifies.
func TestWebhookDispatch(t *testing.T) {
	clock := webhookClock()
	b := setup(t, clock)
	ctx := context.Background()

	r, srv := newReceiver(t, clock, func(n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	e := registerEndpoint(t, b, r, srv.URL+"/hooks")

	var ids []int64
	for _, email := range []string{"ada@example.com", "bob@example.com", "cy@example.com"} {
		c, _, err := b.store.UpsertContact(ctx, "test", outreach.Contact{Email: email, Tier: "medium"})
		require.NoError(t, err)
		ids = append(ids, c.ID)
	}
	customer := postgres.PrefOrigin{Actor: "customer"}
	// Interleaved across contacts, so ordering is per contact, not global.
	for _, step := range []func(int64) error{
		func(id int64) error { _, err := b.store.Unsubscribe(ctx, id, customer); return err },
		func(id int64) error { _, err := b.store.Resubscribe(ctx, id, customer); return err },
		func(id int64) error { _, err := b.store.Pause(ctx, id, customer, 24*time.Hour); return err },
		func(id int64) error { _, err := b.store.Unsubscribe(ctx, id, customer); return err },
	} {
		for _, id := range ids {
			require.NoError(t, step(id))
		}
	}
	require.Equal(t, 12, b.pending(t))

	w := b.dispatcher()
	for i := 0; i < 20 && b.pending(t) > 0; i++ {
		require.NoError(t, w.Work(ctx, nil))
		clock.Add(10 * time.Minute)
	}
	require.Zero(t, b.pending(t), "every event delivered")
	require.Equal(t, 12, r.accepted())
	require.Zero(t, r.forged)
	want := []string{postgres.EventContactUnsubscribed, postgres.EventContactResubscribed,
		postgres.EventContactPreferencesChanged, postgres.EventContactUnsubscribed}
	for _, id := range ids {
		require.Equal(t, want, r.order[float64(id)], "contact %d's events in order", id)
	}

	log, err := b.store.WebhookLog(ctx, e.ID, 0, 100)
	require.NoError(t, err)
	require.Len(t, log, 15, "12 deliveries and 3 failed attempts")
	failed := 0
	for _, a := range log {
		if a.StatusCode == http.StatusInternalServerError {
			failed++
			require.Equal(t, 1, a.Attempt)
			require.Contains(t, a.Error, "HTTP 500")
		} else {
			require.Equal(t, http.StatusNoContent, a.StatusCode)
		}
	}
	require.Equal(t, 3, failed)
	got, err := b.store.WebhookEndpoint(ctx, e.ID)
	require.NoError(t, err)
	require.Nil(t, got.FailingSince, "a success clears the failure")
	require.Nil(t, got.DisabledAt)

	// The signing is right: another secret, or a changed body, fails.
	var anyID string
	var body []byte
	for id, b := range r.bodies {
		anyID, body = id, b
		break
	}
	h, err := webhook.SignHeaders([]string{r.secret}, anyID, clock.Now(), body)
	require.NoError(t, err)
	require.NoError(t, webhook.Verify([]string{r.secret}, h, body, clock.Now(), 0))
	other, err := webhook.NewSecret()
	require.NoError(t, err)
	require.Error(t, webhook.Verify([]string{other}, h, body, clock.Now(), 0))
	require.Error(t, webhook.Verify([]string{r.secret}, h, append([]byte(" "), body...), clock.Now(), 0))
}

// TestWebhookGoneAndDisabled: 410 disables an endpoint at once, a long
// outage after DisableAfter; re-enabling delivers what waited, in order.
func TestWebhookGoneAndDisabled(t *testing.T) {
	clock := webhookClock()
	b := setup(t, clock)
	ctx := context.Background()
	var mu sync.Mutex
	answer := http.StatusGone
	r, srv := newReceiver(t, clock, func(int) int { mu.Lock(); defer mu.Unlock(); return answer })
	e := registerEndpoint(t, b, r, srv.URL)
	c, _, err := b.store.UpsertContact(ctx, "test", outreach.Contact{Email: "ada@example.com", Tier: "medium"})
	require.NoError(t, err)
	_, err = b.store.Unsubscribe(ctx, c.ID, postgres.PrefOrigin{Actor: "customer"})
	require.NoError(t, err)

	w := b.dispatcher()
	require.NoError(t, w.Work(ctx, nil))
	got, err := b.store.WebhookEndpoint(ctx, e.ID)
	require.NoError(t, err)
	require.NotNil(t, got.DisabledAt)
	require.Contains(t, got.DisabledReason, "410 Gone")
	require.Equal(t, "disabled", endpoints.Status(got, clock.Now()))
	// Disabled: no more attempts, and new events are not even written.
	_, err = b.store.Resubscribe(ctx, c.ID, postgres.PrefOrigin{Actor: "customer"})
	require.NoError(t, err)
	clock.Add(time.Hour)
	require.NoError(t, w.Work(ctx, nil))
	log, err := b.store.WebhookLog(ctx, e.ID, 0, 100)
	require.NoError(t, err)
	require.Len(t, log, 1)
	require.Equal(t, 1, b.pending(t), "the unsubscription waits for the endpoint")

	// Re-enabled and failing: disabled again once it failed for 72 hours.
	mu.Lock()
	answer = http.StatusServiceUnavailable
	mu.Unlock()
	on := true
	_, err = endpoints.New(b.store, b.signer, clock, true).Update(ctx, "admin", e.ID, endpoints.Change{Enabled: &on})
	require.NoError(t, err)
	for i := 0; i < 12; i++ {
		require.NoError(t, w.Work(ctx, nil))
		clock.Add(9 * time.Hour)
	}
	got, err = b.store.WebhookEndpoint(ctx, e.ID)
	require.NoError(t, err)
	require.NotNil(t, got.DisabledAt)
	require.Contains(t, got.DisabledReason, "failing for more than 72h")
	log, err = b.store.WebhookLog(ctx, e.ID, 0, 100)
	require.NoError(t, err)
	attempts := len(log)
	require.Less(t, attempts, 1+webhook.MaxAttempts, "disabled before the message ran out of attempts")

	// Fixed and re-enabled: the waiting event is delivered.
	mu.Lock()
	answer = http.StatusOK
	mu.Unlock()
	_, err = endpoints.New(b.store, b.signer, clock, true).Update(ctx, "admin", e.ID, endpoints.Change{Enabled: &on})
	require.NoError(t, err)
	require.NoError(t, w.Work(ctx, nil))
	require.Zero(t, b.pending(t))
	require.Equal(t, []string{postgres.EventContactUnsubscribed}, r.order[float64(c.ID)])
}

// TestWebhookOutboxIsTransactional: nothing is written without a
// subscriber, and erasing a contact takes its undelivered events along.
func TestWebhookOutboxIsTransactional(t *testing.T) {
	clock := webhookClock()
	b := setup(t, clock)
	ctx := context.Background()
	count := func() (n int) {
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_events`).Scan(&n))
		return n
	}
	c, _, err := b.store.UpsertContact(ctx, "test", outreach.Contact{Email: "ada@example.com", Tier: "medium", ExternalID: "crm-981"})
	require.NoError(t, err)
	_, err = b.store.Unsubscribe(ctx, c.ID, postgres.PrefOrigin{Actor: "customer"})
	require.NoError(t, err)
	require.Zero(t, count(), "no endpoint: no event")

	r, srv := newReceiver(t, clock, func(int) int { return http.StatusOK })
	registerEndpoint(t, b, r, srv.URL)
	_, err = b.store.Resubscribe(ctx, c.ID, postgres.PrefOrigin{Actor: "customer"})
	require.NoError(t, err)
	_, err = b.store.Suppress(ctx, "test", "nobody@example.com", outreach.SuppressManual)
	require.NoError(t, err)
	require.Equal(t, 2, count())

	require.NoError(t, b.store.EraseContact(ctx, "test", c.ID))
	var types []string
	rows, err := b.pool.Query(ctx, `SELECT type FROM webhook_events ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		types = append(types, s)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{postgres.EventContactSuppressed, postgres.EventContactErased}, types,
		"the resubscription (with the address) is gone; the erasure, without it, goes out")
	var leaked int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_events WHERE payload::text LIKE '%ada@example.com%'`).Scan(&leaked))
	require.Zero(t, leaked)

	// The CRM gets the external id with the erasure; then it is cleared.
	require.NoError(t, b.dispatcher().Work(ctx, nil))
	require.Zero(t, b.pending(t))
	require.Contains(t, string(r.bodies[erasedID(t, b)]), "crm-981")
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_events WHERE payload::text LIKE '%crm-981%'`).Scan(&leaked))
	require.Zero(t, leaked, "nothing of the contact left in the outbox")
}

func erasedID(t *testing.T, b *bundle) string {
	var id string
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT event_id FROM webhook_events WHERE type = 'contact.erased'`).Scan(&id))
	return id
}
