package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type problem struct {
	Type   string
	Title  string
	Status int
	Detail string
	Errors []struct{ Field, Message string }
}

func fieldsOf(t *testing.T, raw []byte) []string {
	t.Helper()
	var p problem
	require.NoError(t, json.Unmarshal(raw, &p), string(raw))
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

func TestAuthAndRoles(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	viewer, marketer := a.newKey("viewer"), a.newKey("marketer")

	cases := []struct {
		name         string
		method, path string
		key          string
		body         any
		want         int
	}{
		{"no key", "GET", "/api/v1/tiers", "", nil, 401},
		{"wrong key", "GET", "/api/v1/tiers", "rpk_0123456789abcdef_nope", nil, 401},
		{"forged secret of a real prefix", "GET", "/api/v1/tiers", a.Key[:len(a.Key)-4] + "AAAA", nil, 401},
		{"not a bearer", "GET", "/api/v1/tiers", "", nil, 401},
		{"viewer reads", "GET", "/api/v1/contacts", viewer, nil, 200},
		{"viewer cannot write contacts", "POST", "/api/v1/contacts", viewer, map[string]any{"email": "x@example.com", "tier": "low"}, 403},
		{"viewer cannot create campaigns", "POST", "/api/v1/campaigns", viewer, map[string]any{}, 403},
		{"marketer writes contacts", "POST", "/api/v1/contacts", marketer, map[string]any{"email": "x@example.com", "tier": "low"}, 201},
		{"marketer cannot create keys", "POST", "/api/v1/keys", marketer, map[string]any{"name": "x", "role": "admin"}, 403},
		{"viewer cannot create keys", "POST", "/api/v1/keys", viewer, map[string]any{"name": "x", "role": "admin"}, 403},
		{"admin creates keys", "POST", "/api/v1/keys", a.Key, map[string]any{"name": "x", "role": "viewer"}, 201},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, raw := a.call(tc.method, tc.path, tc.key, tc.body, nil)
			require.Equal(t, tc.want, code, string(raw))
			if code >= 400 {
				require.Contains(t, string(raw), `"status":`+itoa(int64(code)))
			}
		})
	}
	// Basic auth or a token without "Bearer " is a 401 too.
	req, _ := http.NewRequest("GET", a.Base+"/api/v1/tiers", nil)
	req.Header.Set("Authorization", "Basic "+a.Key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 401, resp.StatusCode)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	a := startApp(t, map[string]string{"BODY_LIMIT": "64K"})
	valid := func() map[string]any {
		return map[string]any{"name": "C", "topic": "offers", "subject": "Hi", "text": "Hello", "html": "<p>Hello</p>"}
	}
	with := func(k string, v any) map[string]any { m := valid(); m[k] = v; return m }

	cases := []struct {
		name   string
		path   string
		body   any
		status int
		field  string
	}{
		{"malformed JSON", "/api/v1/contacts", `{"email": "a@example.com",`, 400, ""},
		{"not an object", "/api/v1/contacts", `[1,2]`, 400, ""},
		{"two objects", "/api/v1/contacts", `{"email":"a@example.com","tier":"low"} {}`, 400, ""},
		{"empty body", "/api/v1/contacts", ``, 400, ""},
		{"unknown field", "/api/v1/contacts", `{"email":"a@example.com","tier":"low","favourite":"x"}`, 400, "favourite"},
		{"wrong type", "/api/v1/contacts", `{"email":42,"tier":"low"}`, 400, "email"},
		{"invalid email", "/api/v1/contacts", map[string]any{"email": "not-an-email", "tier": "low"}, 422, "email"},
		{"email with display name", "/api/v1/contacts", map[string]any{"email": "Ada <ada@example.com>", "tier": "low"}, 422, "email"},
		{"unknown time zone", "/api/v1/contacts", map[string]any{"email": "a@example.com", "tier": "low", "timezone": "Mars/Olympus"}, 422, "timezone"},
		{"unknown tier", "/api/v1/contacts", map[string]any{"email": "a@example.com", "tier": "platinum"}, 422, "tier"},
		{"unknown preferred tier", "/api/v1/contacts", map[string]any{"email": "a@example.com", "tier": "low", "preferred_tier": "x"}, 422, "preferred_tier"},
		{"unknown topic opt-out", "/api/v1/contacts", map[string]any{"email": "a@example.com", "tier": "low", "topics_opted_out": []string{"nope"}}, 422, "topics_opted_out"},
		{"oversized body", "/api/v1/contacts", `{"email":"a@example.com","tier":"low","name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, ""},
		{"template parse error", "/api/v1/campaigns", with("html", "<p>\n{{ .Contact.Name </p>"), 422, "html"},
		{"template unknown field", "/api/v1/campaigns", with("text", "Hi {{.Contact.Shoe}}"), 422, "text"},
		{"empty subject", "/api/v1/campaigns", with("subject", ""), 422, "subject"},
		{"unknown topic", "/api/v1/campaigns", with("topic", "gossip"), 422, "topic"},
		{"bad category", "/api/v1/campaigns", with("category", "spam"), 422, "category"},
		{"bad priority", "/api/v1/campaigns", with("priority", 101), 422, "priority"},
		{"bad cron", "/api/v1/campaigns", with("cron", "61 * * * *"), 422, "cron"},
		{"bad expiry", "/api/v1/campaigns", with("expires_after", "3 days"), 400, ""},
		{"variant for unknown tier", "/api/v1/campaigns", with("variants", map[string]any{"gold": map[string]string{"subject": "a", "text": "b", "html": "c"}}), 422, "variants.gold"},
		{"unknown audience tier", "/api/v1/campaigns", with("audience", map[string]any{"tiers": []string{"gold"}}), 422, "audience.tiers[0]"},
		{"unknown campaign field", "/api/v1/campaigns", with("colour", "red"), 400, "colour"},
	}
	contacts, campaigns := a.count("contacts"), a.count("campaigns")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, raw := a.call("POST", tc.path, a.Key, tc.body, nil)
			require.Equal(t, tc.status, code, string(raw))
			if tc.field != "" {
				require.Contains(t, fieldsOf(t, raw), tc.field, string(raw))
			}
		})
	}
	require.Equal(t, contacts, a.count("contacts"), "no contact written")
	require.Equal(t, campaigns, a.count("campaigns"), "no campaign written")

	// A template error names the line.
	code, raw := a.call("POST", "/api/v1/campaigns", a.Key, with("html", "<p>ok</p>\n<p>{{ .Contact.Name </p>"), nil)
	require.Equal(t, 422, code)
	require.Contains(t, string(raw), "line 2")

	// Unknown ids and bad paths are 404 problems.
	code, _ = a.call("GET", "/api/v1/contacts/999999", a.Key, nil, nil)
	require.Equal(t, 404, code)
	code, _ = a.call("GET", "/api/v1/contacts/abc", a.Key, nil, nil)
	require.Equal(t, 404, code)
	code, _ = a.call("GET", "/api/v1/contacts?cursor=bm90LWFuLWlk", a.Key, nil, nil)
	require.Equal(t, 400, code)
	code, _ = a.call("GET", "/api/v1/contacts?limit=100000", a.Key, nil, nil)
	require.Equal(t, 400, code)
}
