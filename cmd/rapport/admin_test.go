package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTierAdminAndHistory(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	viewer := a.newKey("viewer")
	marketer := a.newKey("marketer")
	rule := map[string]any{"name": "About once a week", "rank": 20, "selectable": true,
		"caps":        []map[string]any{{"max": 1, "window": "7d"}, {"max": 2, "window": "30d"}},
		"min_gap":     "2d",
		"send_window": map[string]any{"days": []string{"mon", "tue", "wed", "thu", "fri"}, "start": "09:00", "end": "18:00"}}
	var tier struct {
		Key     string
		Version int
		Caps    []struct {
			Max    int
			Window string
		}
		MinGap     string `json:"min_gap"`
		SendWindow struct {
			Days       []string
			Start, End string
		} `json:"send_window"`
	}
	code, raw := a.call("PUT", "/api/v1/tiers/medium", marketer, rule, nil)
	require.Equal(t, 403, code, "only admins change tiers: %s", raw)
	code, raw = a.call("PUT", "/api/v1/tiers/medium", a.Key, rule, &tier)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, 2, tier.Version)
	require.Equal(t, "2d", tier.MinGap)
	require.Equal(t, []string{"mon", "tue", "wed", "thu", "fri"}, tier.SendWindow.Days)
	require.Len(t, tier.Caps, 2)

	var hist struct {
		Items []struct {
			Actor, Action string
			Before, After map[string]any
			At            time.Time
		}
	}
	code, raw = a.call("GET", "/api/v1/tiers/medium/history", viewer, nil, &hist)
	require.Equal(t, 200, code, string(raw))
	require.Len(t, hist.Items, 1)
	require.Equal(t, "update", hist.Items[0].Action)
	require.Contains(t, hist.Items[0].Actor, "key:first admin key")
	require.EqualValues(t, 1, hist.Items[0].Before["version"])
	require.EqualValues(t, 2, hist.Items[0].After["version"])

	bad := []struct {
		name  string
		body  string
		code  int
		field string
	}{
		{"zero cap", `{"name":"x","rank":1,"caps":[{"max":0,"window":"7d"}]}`, 422, "caps[0].max"},
		{"negative window", `{"name":"x","rank":1,"caps":[{"max":1,"window":"0s"}]}`, 422, "caps[0].window"},
		{"no caps", `{"name":"x","rank":1,"caps":[]}`, 422, "caps"},
		{"window backwards", `{"name":"x","rank":1,"caps":[{"max":1,"window":"1d"}],"send_window":{"days":["mon"],"start":"20:00","end":"09:00"}}`, 422, "send_window"},
		{"no days", `{"name":"x","rank":1,"caps":[{"max":1,"window":"1d"}],"send_window":{"days":[],"start":"09:00","end":"17:00"}}`, 422, "send_window.days"},
		{"bad day", `{"name":"x","rank":1,"caps":[{"max":1,"window":"1d"}],"send_window":{"days":["funday"],"start":"09:00","end":"17:00"}}`, 422, "send_window.days[0]"},
		{"bad time", `{"name":"x","rank":1,"caps":[{"max":1,"window":"1d"}],"send_window":{"days":["mon"],"start":"9am","end":"17:00"}}`, 422, "send_window.start"},
		{"missing rank", `{"name":"x","caps":[{"max":1,"window":"1d"}]}`, 422, "rank"},
		{"unknown field", `{"name":"x","rank":1,"caps":[{"max":1,"window":"1d"}],"colour":"red"}`, 400, "colour"},
		{"renaming", `{"key":"other","name":"x","rank":1,"caps":[{"max":1,"window":"1d"}]}`, 422, "key"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			code, raw := a.call("PUT", "/api/v1/tiers/medium", a.Key, tc.body, nil)
			require.Equal(t, tc.code, code, string(raw))
			require.Contains(t, fieldsOf(t, raw), tc.field, string(raw))
		})
	}
	code, _ = a.call("GET", "/api/v1/tiers/medium/history", viewer, nil, &hist)
	require.Equal(t, 200, code)
	require.Len(t, hist.Items, 1, "rejected changes are not versioned")

	code, _ = a.call("PUT", "/api/v1/tiers/nope", a.Key, rule, nil)
	require.Equal(t, 404, code)
	code, raw = a.call("POST", "/api/v1/tiers", a.Key, map[string]any{"key": "vip", "name": "VIP", "rank": 40,
		"caps": []map[string]any{{"max": 2, "window": "24h"}}}, nil)
	require.Equal(t, 201, code, string(raw))
	code, raw = a.call("POST", "/api/v1/tiers", a.Key, map[string]any{"key": "vip", "name": "VIP", "rank": 40,
		"caps": []map[string]any{{"max": 2, "window": "24h"}}}, nil)
	require.Equal(t, 409, code, string(raw))
	code, raw = a.call("POST", "/api/v1/tiers", a.Key, map[string]any{"key": "Bad Key", "name": "VIP", "rank": 40,
		"caps": []map[string]any{{"max": 2, "window": "24h"}}}, nil)
	require.Equal(t, 422, code, string(raw))
	require.Contains(t, fieldsOf(t, raw), "key")
}

func TestCampaignLifecycleForecastTimeline(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	zone := zoneInWindow()
	var ids []int64
	for i, tier := range []string{"high", "high", "medium", "low"} {
		var c struct{ ID int64 }
		body := map[string]any{"email": "p" + itoa(int64(i)) + "@example.com", "name": "P", "tier": tier, "timezone": zone}
		if i == 1 {
			body["topics_opted_out"] = []string{"offers"}
		}
		code, raw := a.call("POST", "/api/v1/contacts", a.Key, body, &c)
		require.Equal(t, 201, code, string(raw))
		ids = append(ids, c.ID)
	}
	var camp struct {
		ID     int64
		Status string
	}
	code, raw := a.call("POST", "/api/v1/campaigns", a.Key, map[string]any{"name": "Offer", "topic": "offers",
		"subject": "S", "text": "T", "html": "<p>H</p>", "expires_after": "3d"}, &camp)
	require.Equal(t, 201, code, string(raw))

	var fc struct {
		Contacts int
		Tiers    map[string]struct {
			Now, Deferred, Expired int
			Skipped                map[string]int
		}
		Reasons map[string]int
	}
	code, raw = a.call("GET", "/api/v1/campaigns/"+itoa(camp.ID)+"/forecast", a.Key, nil, &fc)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, 4, fc.Contacts)
	require.Equal(t, 1, fc.Tiers["high"].Now)
	require.Equal(t, 1, fc.Tiers["high"].Skipped["topic_opt_out"])
	require.Equal(t, 1, fc.Tiers["medium"].Now)
	require.Equal(t, 1, fc.Tiers["low"].Now)
	require.Zero(t, a.count("deliveries"), "a forecast writes nothing")
	require.Zero(t, a.count("campaign_runs"), "a forecast writes nothing")

	// Schedule for later, pause, resume, cancel.
	at := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/schedule", a.Key, map[string]any{"send_at": at}, &camp)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, "scheduled", camp.Status)
	code, _ = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/schedule", a.Key, map[string]any{"send_at": at}, nil)
	require.Equal(t, 409, code, "scheduling twice is a conflict")
	require.Eventually(t, func() bool { return a.count("deliveries") == 4 }, 20*time.Second, 50*time.Millisecond)
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/pause", a.Key, nil, &camp)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, "paused", camp.Status)
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/resume", a.Key, nil, &camp)
	require.Equal(t, 200, code, string(raw))
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/cancel", a.Key, nil, &camp)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, "canceled", camp.Status)
	require.Eventually(t, func() bool {
		var n int
		_ = a.DB.QueryRow(context.Background(), "SELECT count(*) FROM deliveries WHERE reason = 'canceled'").Scan(&n)
		return n == 3
	}, 20*time.Second, 50*time.Millisecond)
	require.Empty(t, a.SMTP.Messages(), "nothing of a canceled campaign is sent")

	// The timeline explains each decision.
	var tl struct {
		Items []struct {
			Type, State, Reason, Event string
			CampaignID                 *int64     `json:"campaign_id"`
			PlannedFor                 *time.Time `json:"planned_for"`
		}
	}
	code, raw = a.call("GET", "/api/v1/contacts/"+itoa(ids[1])+"/timeline", a.Key, nil, &tl)
	require.Equal(t, 200, code, string(raw))
	var reasons []string
	for _, it := range tl.Items {
		if it.Type == "delivery" {
			reasons = append(reasons, it.State+"/"+it.Reason)
			require.Equal(t, camp.ID, *it.CampaignID)
		}
	}
	require.Equal(t, []string{"skipped/topic_opt_out"}, reasons)
	code, _ = a.call("GET", "/api/v1/contacts/999999/timeline", a.Key, nil, nil)
	require.Equal(t, 404, code)
	code, _ = a.call("GET", "/api/v1/contacts/"+itoa(ids[1])+"/timeline?cursor=xyz", a.Key, nil, nil)
	require.Equal(t, 400, code)

	// Everyone is overdue once their tier's target interval has passed
	// without mail: move their creation back 100 days.
	_, err := a.DB.Exec(context.Background(), "UPDATE contacts SET created_at = now() - interval '100 days'")
	require.NoError(t, err)
	var overdue struct{ Items []struct{ ID int64 } }
	code, raw = a.call("GET", "/api/v1/contacts?overdue=true", a.Key, nil, &overdue)
	require.Equal(t, 200, code, string(raw))
	require.Len(t, overdue.Items, 4)
	_, err = a.DB.Exec(context.Background(), "INSERT INTO contact_last_sent (contact_id, last_sent_at) SELECT id, now() - interval '20 days' FROM contacts")
	require.NoError(t, err)
	code, _ = a.call("GET", "/api/v1/contacts?overdue=true", a.Key, nil, &overdue)
	require.Equal(t, 200, code)
	require.Len(t, overdue.Items, 2, "high (14d) contacts are overdue after 20 days; medium (30d) and low (90d) are not")
}

func TestSuppressionsEventsThrottlesMetrics(t *testing.T) {
	t.Parallel()
	a := startApp(t, map[string]string{"EVENTS_SECRET": "events-secret-0123456789abcdefghijklmn"})
	marketer := a.newKey("marketer")
	var c struct{ ID int64 }
	code, raw := a.call("POST", "/api/v1/contacts", a.Key, map[string]any{"email": "b@example.com", "tier": "high"}, &c)
	require.Equal(t, 201, code, string(raw))

	post := func(secret, body string) (int, string) {
		req, _ := http.NewRequest("POST", a.Base+"/api/v1/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ = post("", `{"type":"hard_bounce","email":"b@example.com"}`)
	require.Equal(t, 401, code)
	code, _ = post(a.Key, `{"type":"hard_bounce","email":"b@example.com"}`)
	require.Equal(t, 401, code, "API keys do not open the webhook")
	code, body := post("events-secret-0123456789abcdefghijklmn", `{"type":"bounce","email":"b@example.com"}`)
	require.Equal(t, 422, code, body)
	for i := 0; i < 2; i++ {
		code, body = post("events-secret-0123456789abcdefghijklmn", `{"type":"soft_bounce","email":"b@example.com"}`)
		require.Equal(t, 202, code, body)
		require.Contains(t, body, `"suppressed":false`)
	}
	code, body = post("events-secret-0123456789abcdefghijklmn", `{"type":"soft_bounce","email":"B@example.com"}`)
	require.Equal(t, 202, code, body)
	require.Contains(t, body, `"suppressed":true`, "the third soft bounce suppresses")
	var contact struct{ Status string }
	a.call("GET", "/api/v1/contacts/"+itoa(c.ID), a.Key, nil, &contact)
	require.Equal(t, "bounced", contact.Status)

	code, body = post("events-secret-0123456789abcdefghijklmn", `{"type":"complaint","email":"nobody@example.org"}`)
	require.Equal(t, 202, code, body)
	var list struct {
		Items []struct {
			Email  *string
			Reason string
		}
		NextCursor string `json:"next_cursor"`
	}
	code, raw = a.call("GET", "/api/v1/suppressions?limit=1", a.Key, nil, &list)
	require.Equal(t, 200, code, string(raw))
	require.Len(t, list.Items, 1)
	require.NotEmpty(t, list.NextCursor)
	code, raw = a.call("POST", "/api/v1/suppressions", marketer, map[string]any{"email": "not-an-address"}, nil)
	require.Equal(t, 422, code, string(raw))
	code, raw = a.call("POST", "/api/v1/suppressions", marketer, map[string]any{"email": "m@example.com"}, nil)
	require.Equal(t, 201, code, string(raw))
	code, _ = a.call("DELETE", "/api/v1/suppressions/b@example.com", marketer, nil, nil)
	require.Equal(t, 403, code, "only admins lift suppressions")
	code, _ = a.call("DELETE", "/api/v1/suppressions/b@example.com", a.Key, nil, nil)
	require.Equal(t, 204, code)
	a.call("GET", "/api/v1/contacts/"+itoa(c.ID), a.Key, nil, &contact)
	require.Equal(t, "active", contact.Status)
	code, _ = a.call("DELETE", "/api/v1/suppressions/b@example.com", a.Key, nil, nil)
	require.Equal(t, 404, code)

	// Throttles: admin only, validated, read back.
	code, _ = a.call("PUT", "/api/v1/throttles", marketer, map[string]any{"global_per_second": 100}, nil)
	require.Equal(t, 403, code)
	code, raw = a.call("PUT", "/api/v1/throttles", a.Key, map[string]any{"global_per_second": -1}, nil)
	require.Equal(t, 422, code, string(raw))
	require.Contains(t, fieldsOf(t, raw), "global_per_second")
	var th struct {
		GlobalPerSecond float64            `json:"global_per_second"`
		Domains         map[string]float64 `json:"domains"`
	}
	code, raw = a.call("PUT", "/api/v1/throttles", a.Key, map[string]any{"global_per_second": 250, "domains": map[string]float64{"Gmail.com": 20}}, &th)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, 250.0, th.GlobalPerSecond)
	require.Equal(t, map[string]float64{"gmail.com": 20}, th.Domains)

	// Metrics on the operations address only (never on the public port
	// that serves customer pages), and River's UI.
	resp, err := http.Get(a.Base + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode, "no metrics on the public port")
	var mb []byte
	require.Eventually(t, func() bool {
		resp, err := http.Get(a.Ops + "/metrics")
		if err != nil {
			return false
		}
		mb, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		// The queue depth is the cluster's, exported by River's leader.
		return resp.StatusCode == 200 && strings.Contains(string(mb), "rapport_queue_depth")
	}, 30*time.Second, 200*time.Millisecond)
	require.Contains(t, string(mb), "rapport_send_latency_seconds")
	require.Contains(t, string(mb), `rapport_build_info{commit=`)
	require.Contains(t, string(mb), `rapport_http_requests_total{code="2xx",method="PUT",route="/api/v1/throttles"} 1`)
	resp, err = http.Get(a.Base + "/riverui/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 401, resp.StatusCode)
	require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")
	req, _ := http.NewRequest("GET", a.Base+"/riverui/", nil)
	req.SetBasicAuth("admin", marketer)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 403, resp.StatusCode, "a marketer key does not open River's UI")
	req.SetBasicAuth("admin", a.Key)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	ub, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(ub), "<html")
	req, _ = http.NewRequest("GET", a.Base+"/riverui/api/jobs?state=available", nil)
	req.SetBasicAuth("", a.Key)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var jobs map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&jobs))
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
}

// TestRecurringCampaignFires runs a cron campaign through the real service:
// River's periodic job must be accepted and fire the due campaign.
func TestRecurringCampaignFires(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	var c struct {
		ID     int64
		Status string
	}
	code, raw := a.call("POST", "/api/v1/contacts", a.Key, map[string]any{"email": "r@example.com", "tier": "high", "timezone": zoneInWindow()}, nil)
	require.Equal(t, 201, code, string(raw))
	code, raw = a.call("POST", "/api/v1/campaigns", a.Key, map[string]any{"name": "Every minute", "topic": "offers",
		"subject": "S", "text": "T", "html": "<p>H</p>", "cron": "* * * * *", "timezone": "Europe/Berlin"}, &c)
	require.Equal(t, 201, code, string(raw))
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(c.ID)+"/schedule", a.Key, nil, &c)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, "scheduled", c.Status)
	// The next firing is shown: the start of the next minute.
	var got struct {
		NextRunAt *time.Time `json:"next_run_at"`
	}
	code, raw = a.call("GET", "/api/v1/campaigns/"+itoa(c.ID), a.Key, nil, &got)
	require.Equal(t, 200, code, string(raw))
	require.NotNil(t, got.NextRunAt, string(raw))
	require.Zero(t, got.NextRunAt.Second(), "a cron firing is on the minute")
	require.WithinDuration(t, time.Now().Add(30*time.Second), *got.NextRunAt, 31*time.Second)
	// Make the next firing due now, as if the minute had passed.
	_, err := a.DB.Exec(context.Background(), "UPDATE campaigns SET next_fire_at = now() - interval '1 second' WHERE id = $1", c.ID)
	require.NoError(t, err)
	msgs := a.SMTP.Wait(1, 40*time.Second)
	require.Len(t, msgs, 1, "the periodic fire_due job fired the campaign")
	require.Equal(t, 1, a.count("campaign_runs"))
	require.NotContains(t, a.stderr.String(), "must contain all required states")
}

// TestRiverUIRefusesCrossSite: River's UI is an admin's browser page whose
// Basic credentials the browser sends with any request to it. A page on
// another site posting to its API (text/plain: no CORS preflight) to
// delete a send job is refused and deletes nothing, with or without
// Sec-Fetch-Site; a non-JSON body from a client that is not a browser is a
// 415; the UI cannot be framed. Its own page (same-origin) still works.
func TestRiverUIRefusesCrossSite(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	ctx := context.Background()
	id := a.pcContact("night@example.com", "high", zoneAt(2), "en") // deferred to the morning: its job waits
	camp := a.pcSend("Morning news", "product-news", id)
	_, reason, _ := a.pcDelivery(camp, id, "scheduled")
	require.Equal(t, "deferred_send_window", reason)
	var jobID int64
	require.Eventually(t, func() bool {
		return a.DB.QueryRow(ctx, "SELECT id FROM river_job WHERE kind = 'send_batch' AND state = 'scheduled'").Scan(&jobID) == nil
	}, 10*time.Second, 50*time.Millisecond)
	jobExists := func() bool {
		var n int
		require.NoError(t, a.DB.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE id = $1", jobID).Scan(&n))
		return n == 1
	}
	post := func(contentType string, header map[string]string) int {
		req, err := http.NewRequest("POST", a.Base+"/riverui/api/jobs/delete", strings.NewReader(`{"ids":["`+itoa(jobID)+`"]}`))
		require.NoError(t, err)
		req.SetBasicAuth("admin", a.Key) // what the browser has cached
		req.Header.Set("Content-Type", contentType)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "same-site", "Origin": "https://other.example.test"},
		{"Origin": "https://evil.example"}, // a browser without Fetch Metadata
	} {
		require.Equal(t, http.StatusForbidden, post("text/plain", h), "%v", h)
		require.Equal(t, http.StatusForbidden, post("application/json", h), "%v", h)
		require.True(t, jobExists(), "a cross-site request deletes nothing")
	}
	require.Equal(t, http.StatusUnsupportedMediaType, post("text/plain", nil), "not JSON and not vouched for by a browser")
	require.Equal(t, http.StatusUnsupportedMediaType, post("application/x-www-form-urlencoded", nil))
	require.True(t, jobExists())

	req, _ := http.NewRequest("GET", a.Base+"/riverui/", nil)
	req.SetBasicAuth("admin", a.Key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))

	// River's own page posts its JSON without a Content-Type (the browser
	// labels it text/plain) and the browser says it is same-origin.
	require.Equal(t, http.StatusOK, post("text/plain;charset=UTF-8", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": a.Base}))
	require.False(t, jobExists())
}
