package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func (a *testApp) callHeaders(method, path, key string, headers map[string]string, body any, out any) (int, http.Header, []byte) {
	a.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, a.Base+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	a.checkResponse(req, resp, buf.Bytes())
	if out != nil && buf.Len() > 0 {
		require.NoError(a.t, json.Unmarshal(buf.Bytes(), out), buf.String())
	}
	return resp.StatusCode, resp.Header, buf.Bytes()
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	body := map[string]any{"name": "Once", "topic": "offers", "subject": "S", "text": "T", "html": "<p>H</p>"}
	var c1, c2 struct{ ID int64 }
	code, h, raw := a.callHeaders("POST", "/api/v1/campaigns", a.Key, map[string]string{"Idempotency-Key": "k-1"}, body, &c1)
	require.Equal(t, 201, code, string(raw))
	require.Empty(t, h.Get("Idempotent-Replayed"))
	code, h, raw = a.callHeaders("POST", "/api/v1/campaigns", a.Key, map[string]string{"Idempotency-Key": "k-1"}, body, &c2)
	require.Equal(t, 201, code, string(raw))
	require.Equal(t, "true", h.Get("Idempotent-Replayed"))
	require.Equal(t, c1.ID, c2.ID)
	require.Equal(t, 1, a.count("campaigns"))
	body["name"] = "Other"
	code, _, raw = a.callHeaders("POST", "/api/v1/campaigns", a.Key, map[string]string{"Idempotency-Key": "k-1"}, body, nil)
	require.Equal(t, 409, code, string(raw))
	require.Equal(t, 1, a.count("campaigns"))

	// Send twice with the same key (concurrently): one run.
	done := make(chan int, 2)
	for i := 0; i < 2; i++ {
		go func() {
			req, _ := http.NewRequest("POST", a.Base+"/api/v1/campaigns/"+itoa(c1.ID)+"/send", nil)
			req.Header.Set("Authorization", "Bearer "+a.Key)
			req.Header.Set("Idempotency-Key", "send-1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	require.Equal(t, 202, <-done)
	require.Equal(t, 202, <-done)
	require.Equal(t, 1, a.count("campaign_runs"), "a retried send never starts a second run")
}

func TestResourceEndpoints(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	viewer, marketer := a.newKey("viewer"), a.newKey("marketer")
	ctx := context.Background()

	code, raw := a.call("POST", "/api/v1/topics", marketer, map[string]string{"key": "webinars", "name": "Webinars"}, nil)
	require.Equal(t, 201, code, string(raw))
	code, _ = a.call("POST", "/api/v1/topics", marketer, map[string]string{"key": "webinars", "name": "Again"}, nil)
	require.Equal(t, 409, code)
	code, raw = a.call("POST", "/api/v1/topics", marketer, map[string]string{"key": "Bad Key", "name": "x"}, nil)
	require.Equal(t, 422, code, string(raw))
	code, _ = a.call("POST", "/api/v1/topics", viewer, map[string]string{"key": "x", "name": "x"}, nil)
	require.Equal(t, 403, code)

	var ct struct {
		ID            int64
		Email         string
		Name          string
		PreferredTier *string `json:"preferred_tier"`
	}
	code, raw = a.call("POST", "/api/v1/contacts", marketer, map[string]any{"email": "e@example.com", "name": "Eve", "tier": "high",
		"preferred_tier": "medium", "timezone": zoneInWindow()}, &ct)
	require.Equal(t, 201, code, string(raw))
	code, raw = a.call("PATCH", "/api/v1/contacts/"+itoa(ct.ID), marketer, map[string]any{"name": "Eve Adams", "preferred_tier": nil}, &ct)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, "Eve Adams", ct.Name)
	require.Nil(t, ct.PreferredTier)
	for _, bad := range []struct {
		body  string
		code  int
		field string
	}{
		{`{"status":"active"}`, 400, "status"},
		{`{"email":"nope"}`, 422, "email"},
		{`{"tier":"gold"}`, 422, "tier"},
		{`{"name":42}`, 400, "name"},
		{`{"timezone":"Nowhere/Land"}`, 422, "timezone"},
	} {
		code, raw = a.call("PATCH", "/api/v1/contacts/"+itoa(ct.ID), marketer, bad.body, nil)
		require.Equal(t, bad.code, code, bad.body+" "+string(raw))
		require.Contains(t, fieldsOf(t, raw), bad.field)
	}

	// A campaign, patched while draft, previewed, sent; stats and deliveries.
	var camp struct{ ID int64 }
	code, raw = a.call("POST", "/api/v1/campaigns", marketer, map[string]any{"name": "News", "topic": "webinars",
		"subject": "Hi {{.Contact.Name}}", "text": "T", "html": "<p>H</p>",
		"variants": map[string]any{"high": map[string]string{"subject": "VIP {{.Contact.Name}}", "text": "vip", "html": "<p>vip</p>"}}}, &camp)
	require.Equal(t, 201, code, string(raw))
	code, raw = a.call("PATCH", "/api/v1/campaigns/"+itoa(camp.ID), marketer, map[string]any{"name": "News v2"}, nil)
	require.Equal(t, 200, code, string(raw))
	code, raw = a.call("PATCH", "/api/v1/campaigns/"+itoa(camp.ID), marketer, map[string]any{"html": "<p>{{ .Contact.Nam }}</p>"}, nil)
	require.Equal(t, 422, code, string(raw))
	var pv struct {
		Subject, Text, HTML, Tier string
		PreferencesURL            string `json:"preferences_url"`
	}
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/preview", marketer, map[string]any{"contact_id": ct.ID}, &pv)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, "high", pv.Tier)
	require.Equal(t, "VIP Eve Adams", pv.Subject)
	require.Contains(t, pv.HTML, pv.PreferencesURL)
	require.True(t, strings.HasPrefix(pv.PreferencesURL, "https://mail.example.test/p/"))
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/preview", marketer, nil, &pv)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, "Hi Ada Lovelace", pv.Subject, "a sample contact without contact_id")
	code, _ = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/preview", marketer, map[string]any{"contact_id": 99999}, nil)
	require.Equal(t, 404, code)

	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/send", marketer, nil, nil)
	require.Equal(t, 202, code, string(raw))
	a.SMTP.Wait(1, 20*time.Second)
	code, raw = a.call("PATCH", "/api/v1/campaigns/"+itoa(camp.ID), marketer, map[string]any{"name": "too late"}, nil)
	require.Equal(t, 409, code, "only drafts change: %s", raw)
	var stats struct {
		Total struct{ Total, Sent int64 }
		Tiers map[string]struct{ Sent int64 }
	}
	require.Eventually(t, func() bool {
		a.call("GET", "/api/v1/campaigns/"+itoa(camp.ID)+"/stats", viewer, nil, &stats)
		return stats.Total.Sent == 1
	}, 20*time.Second, 50*time.Millisecond)
	require.EqualValues(t, 1, stats.Tiers["high"].Sent)
	var dl struct {
		Items []struct {
			ContactID int64 `json:"contact_id"`
			State     string
			MessageID *string `json:"message_id"`
		}
	}
	code, raw = a.call("GET", "/api/v1/deliveries?campaign_id="+itoa(camp.ID)+"&state=sent", viewer, nil, &dl)
	require.Equal(t, 200, code, string(raw))
	require.Len(t, dl.Items, 1)
	require.Equal(t, ct.ID, dl.Items[0].ContactID)
	code, _ = a.call("GET", "/api/v1/deliveries?state=lost", viewer, nil, nil)
	require.Equal(t, 400, code)
	code, _ = a.call("GET", "/api/v1/deliveries?campaign_id=abc", viewer, nil, nil)
	require.Equal(t, 400, code)
	var cl struct {
		Items      []struct{ ID int64 }
		NextCursor string `json:"next_cursor"`
	}
	// Completed with its last (here only) message.
	require.Eventually(t, func() bool {
		code, _ = a.call("GET", "/api/v1/campaigns?status=completed", viewer, nil, &cl)
		return code == 200 && len(cl.Items) == 1
	}, 5*time.Second, 20*time.Millisecond)
	code, _ = a.call("GET", "/api/v1/campaigns?status=running", viewer, nil, &cl)
	require.Equal(t, 200, code)
	require.Empty(t, cl.Items)

	// Erase: personal data gone, the address stays suppressed by hash.
	code, _ = a.call("DELETE", "/api/v1/contacts/"+itoa(ct.ID), viewer, nil, nil)
	require.Equal(t, 403, code)
	code, _ = a.call("DELETE", "/api/v1/contacts/"+itoa(ct.ID), marketer, nil, nil)
	require.Equal(t, 204, code)
	var erased struct {
		Email, Name, Status string
	}
	a.call("GET", "/api/v1/contacts/"+itoa(ct.ID), viewer, nil, &erased)
	require.Equal(t, "erased", erased.Status)
	require.Empty(t, erased.Name)
	require.NotContains(t, erased.Email, "e@example.com")
	var leaks int
	require.NoError(t, a.DB.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM contacts WHERE email = 'e@example.com') +
		(SELECT count(*) FROM suppressions WHERE email = 'e@example.com') +
		(SELECT count(*) FROM audit_log WHERE entity_id = 'e@example.com' OR after::text LIKE '%e@example.com%')`).Scan(&leaks))
	require.Zero(t, leaks, "no trace of the erased address")
	// Imported again, the address is created as a contact but never mailed.
	var again struct{ ID int64 }
	code, _ = a.call("POST", "/api/v1/contacts", marketer, map[string]any{"email": "e@example.com", "tier": "high", "timezone": zoneInWindow()}, &again)
	require.Equal(t, 201, code)
	var c2 struct{ ID int64 }
	a.call("POST", "/api/v1/campaigns", marketer, map[string]any{"name": "After erase", "topic": "webinars", "subject": "S", "text": "T", "html": "<p>H</p>",
		"audience": map[string]any{"contact_ids": []int64{again.ID}}}, &c2)
	a.call("POST", "/api/v1/campaigns/"+itoa(c2.ID)+"/send", marketer, nil, nil)
	require.Eventually(t, func() bool {
		var reason string
		_ = a.DB.QueryRow(ctx, "SELECT reason FROM deliveries WHERE campaign_id = $1", c2.ID).Scan(&reason)
		return reason == "unsubscribed"
	}, 20*time.Second, 50*time.Millisecond)
	require.Len(t, a.SMTP.Messages(), 1)

	// Keys: listed without secrets, revoked at once; the last admin stays.
	var keys struct {
		Items []struct {
			ID   int64
			Role string
			Key  string
		}
	}
	code, raw = a.call("GET", "/api/v1/keys", a.Key, nil, &keys)
	require.Equal(t, 200, code)
	require.NotContains(t, string(raw), "rpk_")
	require.Len(t, keys.Items, 3)
	code, _ = a.call("DELETE", "/api/v1/keys/"+itoa(keys.Items[1].ID), a.Key, nil, nil)
	require.Equal(t, 204, code)
	code, _ = a.call("GET", "/api/v1/tiers", viewer, nil, nil)
	require.Equal(t, 401, code, "a revoked key stops working at once")
	code, raw = a.call("DELETE", "/api/v1/keys/"+itoa(keys.Items[0].ID), a.Key, nil, nil)
	require.Equal(t, 409, code, "the last admin key cannot be revoked: %s", raw)

	var audit struct {
		Items []struct {
			Actor, Action, Entity string
		}
	}
	code, _ = a.call("GET", "/api/v1/audit?entity=api_key", a.Key, nil, &audit)
	require.Equal(t, 200, code)
	var actions []string
	for _, it := range audit.Items {
		actions = append(actions, it.Action)
	}
	require.Contains(t, actions, "revoke")
	require.Contains(t, actions, "create")
	code, _ = a.call("GET", "/api/v1/audit", marketer, nil, nil)
	require.Equal(t, 403, code)
}

func TestShortListsPageByKey(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	var p struct {
		Items      []struct{ Key string }
		NextCursor string `json:"next_cursor"`
	}
	code, raw := a.call("GET", "/api/v1/tiers?limit=2", a.Key, nil, &p)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, []string{"low", "medium"}, []string{p.Items[0].Key, p.Items[1].Key})
	require.NotEmpty(t, p.NextCursor)
	code, _ = a.call("GET", "/api/v1/tiers?limit=2&cursor="+p.NextCursor, a.Key, nil, &p)
	require.Equal(t, 200, code)
	require.Len(t, p.Items, 1)
	require.Equal(t, "high", p.Items[0].Key)
	require.Empty(t, p.NextCursor)
	code, _ = a.call("GET", "/api/v1/topics?cursor=bm9wZQ", a.Key, nil, nil)
	require.Equal(t, 400, code)
	// An empty or chunked body on schedule is "no body"; a bad one is a 400.
	var camp struct{ ID int64 }
	a.call("POST", "/api/v1/campaigns", a.Key, map[string]any{"name": "x", "topic": "offers", "subject": "s", "text": "t", "html": "h"}, &camp)
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/schedule", a.Key, "{not json", nil)
	require.Equal(t, 400, code, string(raw))
	code, _ = a.call("GET", "/api/v1/campaigns/99999/stats", a.Key, nil, nil)
	require.Equal(t, 404, code)
}
