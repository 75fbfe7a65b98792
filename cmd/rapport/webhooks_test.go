package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/webhook"
)

// crm is the company's CRM in the test: a real HTTP receiver that checks
// each signature, fails the first three requests, and records every event
// it accepted per contact, in order.
type crm struct {
	t       *testing.T
	mu      sync.Mutex
	secret  string
	calls   int
	forged  int
	seen    map[string]string    // event id → body
	byEvent map[string]int       // event id → deliveries accepted
	order   map[float64][]string // contact id → types in order of acceptance
	types   map[string]int
}

func (c *crm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := webhook.Verify([]string{c.secret}, r.Header, body, time.Now(), 0); err != nil {
		c.forged++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	c.calls++
	if c.calls <= 3 {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	id := r.Header.Get(webhook.HeaderID)
	c.byEvent[id]++
	if prev, ok := c.seen[id]; ok {
		require.Equal(c.t, prev, string(body), "a duplicate has the same event id and body")
		w.WriteHeader(http.StatusOK)
		return
	}
	c.seen[id] = string(body)
	var ev struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	require.NoError(c.t, json.Unmarshal(body, &ev))
	cid, _ := ev.Data["contact_id"].(float64)
	c.order[cid] = append(c.order[cid], ev.Type)
	c.types[ev.Type]++
	w.WriteHeader(http.StatusOK)
}

func (c *crm) count(typ string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.types[typ]
}

// TestEventsReachTheCRM: an endpoint registered through the API receives
// what happens — sends, a suppression, its removal, the campaign's end —
// through River, signed, retried past three failures, each contact's
// events in order; the delivery log shows every attempt.
func TestEventsReachTheCRM(t *testing.T) {
	a := startApp(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"})
	c := &crm{t: t, seen: map[string]string{}, byEvent: map[string]int{}, order: map[float64][]string{}, types: map[string]int{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)

	var hook struct {
		ID     int64
		Secret string
		Status string
	}
	events := []string{"delivery.sent", "contact.suppressed", "contact.resubscribed", "campaign.completed"}
	code, raw := a.call("POST", "/api/v1/webhooks", a.Key, map[string]any{"url": srv.URL + "/rapport", "events": events,
		"description": "CRM"}, &hook)
	require.Equal(t, http.StatusCreated, code, string(raw))
	require.Regexp(t, `^whsec_`, hook.Secret)
	require.Equal(t, "active", hook.Status)
	c.mu.Lock()
	c.secret = hook.Secret
	c.mu.Unlock()
	// The secret is shown once.
	code, raw = a.call("GET", "/api/v1/webhooks/"+itoa(hook.ID), a.Key, nil, nil)
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, string(raw), hook.Secret)
	var stored []byte
	require.NoError(t, a.DB.QueryRow(context.Background(), `SELECT secret_sealed FROM webhook_endpoints`).Scan(&stored))
	require.NotContains(t, string(stored), hook.Secret[6:], "sealed, not stored in clear")

	// Bad input changes nothing.
	for _, body := range []any{
		map[string]any{"url": "ftp://crm.example.com/", "events": events},
		map[string]any{"url": srv.URL, "events": []string{"contact.created"}},
		map[string]any{"url": srv.URL, "events": events, "secret": "mine"},
		`{"url":`,
	} {
		code, raw = a.call("POST", "/api/v1/webhooks", a.Key, body, nil)
		require.Contains(t, []int{400, 422}, code, string(raw))
	}
	require.Equal(t, 1, a.count("webhook_endpoints"))
	// Admins only.
	code, _ = a.call("GET", "/api/v1/webhooks", a.newKey("marketer"), nil, nil)
	require.Equal(t, http.StatusForbidden, code)

	got := sendToThree(t, a)
	code, raw = a.call("POST", "/api/v1/suppressions", a.Key, map[string]any{"email": "ada@example.com", "reason": "manual"}, nil)
	require.Equal(t, http.StatusCreated, code, string(raw))
	code, raw = a.call("DELETE", "/api/v1/suppressions/ada@example.com", a.Key, nil, nil)
	require.Equal(t, http.StatusNoContent, code, string(raw))

	// Retries are minutes apart; the test brings them forward.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && (c.count("delivery.sent") < 3 || c.count("contact.resubscribed") < 1 || c.count("campaign.completed") < 1) {
		_, err := a.DB.Exec(context.Background(), `UPDATE webhook_messages SET next_at = now() WHERE state = 'pending'`)
		require.NoError(t, err)
		time.Sleep(200 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Equal(t, 3, c.types["delivery.sent"])
	require.Equal(t, 1, c.types["contact.suppressed"])
	require.Equal(t, 1, c.types["contact.resubscribed"])
	require.Equal(t, 1, c.types["campaign.completed"])
	require.Zero(t, c.forged)
	var ada float64
	require.NoError(t, a.DB.QueryRow(context.Background(), `SELECT id FROM contacts WHERE email = 'ada@example.com'`).Scan(&ada))
	require.Equal(t, []string{"delivery.sent", "contact.suppressed", "contact.resubscribed"}, c.order[ada], "Ada's events in order")
	_ = got

	var log struct {
		Items []struct {
			StatusCode int    `json:"status_code"`
			Type       string `json:"type"`
			Error      string `json:"error"`
		}
	}
	code, raw = a.call("GET", "/api/v1/webhooks/"+itoa(hook.ID)+"/deliveries?limit=100", a.Key, nil, &log)
	require.Equal(t, http.StatusOK, code, string(raw))
	failed := 0
	for _, it := range log.Items {
		if it.StatusCode == 500 {
			failed++
			require.Contains(t, it.Error, "HTTP 500")
		}
	}
	require.Equal(t, 3, failed, "the three failures are in the log")
	require.GreaterOrEqual(t, len(log.Items), 6+3)

	// Disabled by hand, then deleted.
	var h struct{ Status string }
	code, raw = a.call("PATCH", "/api/v1/webhooks/"+itoa(hook.ID), a.Key, map[string]any{"enabled": false}, &h)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, "disabled", h.Status)
	code, _ = a.call("DELETE", "/api/v1/webhooks/"+itoa(hook.ID), a.Key, nil, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, _ = a.call("GET", "/api/v1/webhooks/"+itoa(hook.ID), a.Key, nil, nil)
	require.Equal(t, http.StatusNotFound, code)
}
