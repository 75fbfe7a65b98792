package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// badBytesCases are the text a client can send that PostgreSQL cannot
// store or a mail header cannot carry: NUL (JSON \u0000), a line break in a
// one-line field, another control character.
var badBytesCases = map[string]string{"NUL": "a\u0000b", "CR LF": "Ada\r\nBcc: evil@example.com", "bell": "a\u0007b"}

// TestBadBytesEveryWriteEndpoint sends NUL, line breaks and other control
// characters in every text field of every write endpoint, and bodies that
// are not UTF-8: each is a 4xx naming the field (422) or the body (400),
// never a 500, and nothing is written.
func TestBadBytesEveryWriteEndpoint(t *testing.T) {
	t.Parallel()
	a := startApp(t, map[string]string{"EVENTS_SECRET": strings.Repeat("e", 40)})
	var ct struct{ ID int64 }
	code, raw := a.call("POST", "/api/v1/contacts", a.Key, map[string]any{"email": "clean@example.com", "tier": "low"}, &ct)
	require.Equal(t, 201, code, string(raw))
	var camp struct{ ID int64 }
	campaign := func() map[string]any {
		return map[string]any{"name": "C", "topic": "offers", "subject": "Hi", "text": "Hello", "html": "<p>Hello</p>"}
	}
	code, raw = a.call("POST", "/api/v1/campaigns", a.Key, campaign(), &camp)
	require.Equal(t, 201, code, string(raw))
	tier := func() map[string]any {
		return map[string]any{"name": "Gold", "rank": 40, "caps": []map[string]any{{"max": 1, "window": "7d"}},
			"send_window": map[string]any{"days": []string{"mon"}, "start": "09:00", "end": "17:00"}}
	}
	with := func(m map[string]any, k string, v any) map[string]any { m[k] = v; return m }
	contact := func(k string, v any) map[string]any {
		return with(map[string]any{"email": "new@example.com", "tier": "low"}, k, v)
	}
	type tcase struct {
		method, path string
		body         any
		status       int
		field        string
	}
	var cases []tcase
	for _, bad := range badBytesCases {
		cases = append(cases,
			tcase{"POST", "/api/v1/contacts", contact("name", bad), 422, "name"},
			tcase{"POST", "/api/v1/contacts", contact("external_id", bad), 422, "external_id"},
			tcase{"POST", "/api/v1/contacts", contact("locale", bad), 422, "locale"},
			tcase{"POST", "/api/v1/contacts", contact("timezone", bad), 422, "timezone"},
			tcase{"POST", "/api/v1/contacts", contact("tier", bad), 422, "tier"},
			tcase{"POST", "/api/v1/contacts", contact("email", "x"+bad+"@example.com"), 422, "email"},
			tcase{"POST", "/api/v1/contacts", contact("attributes", map[string]any{"plan": "pro\u0000"}), 422, "attributes"},
			tcase{"POST", "/api/v1/contacts", contact("attributes", map[string]any{bad: "pro"}), 422, "attributes"},
			tcase{"PATCH", "/api/v1/contacts/" + itoa(ct.ID), map[string]any{"name": bad}, 422, "name"},
			tcase{"POST", "/api/v1/tiers", with(with(tier(), "key", "gold"), "name", bad), 422, "name"},
			tcase{"PUT", "/api/v1/tiers/low", with(tier(), "name", bad), 422, "name"},
			tcase{"POST", "/api/v1/topics", map[string]any{"key": "news", "name": bad}, 422, "name"},
			tcase{"POST", "/api/v1/topics", map[string]any{"key": bad, "name": "News"}, 422, "key"},
			tcase{"POST", "/api/v1/campaigns", with(campaign(), "name", bad), 422, "name"},
			tcase{"POST", "/api/v1/campaigns", with(campaign(), "subject", bad), 422, "subject"},
			tcase{"POST", "/api/v1/campaigns", with(campaign(), "audience", map[string]any{"attributes": map[string]string{"plan": bad}}), 422, "audience.attributes.plan"},
			tcase{"PATCH", "/api/v1/campaigns/" + itoa(camp.ID), map[string]any{"subject": bad}, 422, "subject"},
			tcase{"POST", "/api/v1/keys", map[string]any{"name": bad, "role": "viewer"}, 422, "name"},
			tcase{"POST", "/api/v1/suppressions", map[string]any{"email": "x" + bad + "@example.com", "reason": "manual"}, 422, "email"},
			tcase{"PUT", "/api/v1/throttles", map[string]any{"global_per_second": 10, "domains": map[string]float64{"ex" + bad + ".com": 1}}, 422, ""},
		)
	}
	// Multi-line text (templates, descriptions) keeps its line breaks but
	// never NUL.
	for _, f := range []string{"text", "html"} {
		cases = append(cases, tcase{"POST", "/api/v1/campaigns", with(campaign(), f, "Hello\u0000"), 422, f},
			tcase{"PATCH", "/api/v1/campaigns/" + itoa(camp.ID), map[string]any{f: "Hello\u0000"}, 422, f},
			tcase{"POST", "/api/v1/campaigns", with(campaign(), "variants", map[string]any{"low": map[string]string{
				"subject": "Hi", "text": "Hello", "html": "<p>Hello</p>", f: "x\u0000"}}), 422, "variants.low." + f})
	}
	cases = append(cases, tcase{"POST", "/api/v1/tiers", with(with(tier(), "key", "gold"), "description", "a\u0000"), 422, "description"},
		tcase{"POST", "/api/v1/campaigns/" + itoa(camp.ID) + "/schedule", `{"send_at":"2030-01-01T00:00:00Z\u0000"}`, 400, ""})
	// Templates whose output has no bound: a loop over ten million, and
	// output over TEMPLATE_MAX_BYTES (512 KiB), in every part.
	for _, huge := range []string{"{{range 10000000}}xxxxxxxxxx{{end}}", `{{range 6000}}{{printf "%0100d" 0}}{{end}}`} {
		for _, f := range []string{"subject", "text", "html"} {
			cases = append(cases, tcase{"POST", "/api/v1/campaigns", with(campaign(), f, huge), 422, f},
				tcase{"PATCH", "/api/v1/campaigns/" + itoa(camp.ID), map[string]any{f: huge}, 422, f})
		}
		cases = append(cases, tcase{"POST", "/api/v1/campaigns", with(campaign(), "variants", map[string]any{"low": map[string]string{
			"subject": "Hi", "text": "Hello", "html": huge}}), 422, "variants.low.html"})
	}
	// Bodies that are not UTF-8 are refused as unreadable, whatever the
	// endpoint.
	latin1 := func(s string) []byte { return []byte(strings.ReplaceAll(s, "é", "\xe9")) }
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/contacts", `{"email":"new@example.com","tier":"low","name":"Ren\u00e9 é"}`},
		{"PATCH", "/api/v1/contacts/" + itoa(ct.ID), `{"name":"Ren\u00e9 é"}`},
		{"POST", "/api/v1/campaigns", `{"name":"é","topic":"offers","subject":"Hi","text":"Hello","html":"<p>Hello</p>"}`},
		{"PATCH", "/api/v1/campaigns/" + itoa(camp.ID), `{"name":"é"}`},
		{"POST", "/api/v1/campaigns/" + itoa(camp.ID) + "/preview", `{"contact_id":1,"x":"é"}`},
		{"POST", "/api/v1/topics", `{"key":"news","name":"é"}`},
		{"POST", "/api/v1/tiers", `{"key":"gold","name":"é"}`},
		{"PUT", "/api/v1/tiers/low", `{"name":"é"}`},
		{"POST", "/api/v1/keys", `{"name":"é","role":"viewer"}`},
		{"POST", "/api/v1/suppressions", `{"email":"é@example.com"}`},
		{"PUT", "/api/v1/throttles", `{"global_per_second":1,"domains":{"é.com":1}}`},
		{"POST", "/api/v1/campaigns/" + itoa(camp.ID) + "/schedule", `{"send_at":"2030-01-01T00:00:00Zé"}`},
	} {
		cases = append(cases, tcase{c.method, c.path, latin1(c.body), 400, ""})
	}
	tables := []string{"contacts", "campaigns", "tiers", "topics", "api_keys", "suppressions", "throttle_rates", "audit_log"}
	before := map[string]int{}
	for _, tb := range tables {
		before[tb] = a.count(tb)
	}
	for _, tc := range cases {
		code, raw := a.call(tc.method, tc.path, a.Key, tc.body, nil)
		require.Equal(t, tc.status, code, "%s %s %q: %s", tc.method, tc.path, tc.body, raw)
		if tc.field != "" {
			require.Contains(t, fieldsOf(t, raw), tc.field, "%s %s: %s", tc.method, tc.path, raw)
		}
	}
	for _, tb := range tables {
		require.Equal(t, before[tb], a.count(tb), "nothing written to %s", tb)
	}
	var name string
	require.NoError(t, a.DB.QueryRow(context.Background(), "SELECT name FROM contacts WHERE id = $1", ct.ID).Scan(&name))
	require.Empty(t, name)

	// The events webhook, with its own secret.
	for _, body := range []string{`{"type":"hard_bounce","email":"a\u0000@example.com"}`, `{"type":"hard\u0000","email":"a@example.com"}`} {
		code, raw := a.callWith("POST", "/api/v1/events", strings.Repeat("e", 40), body)
		require.Equal(t, 422, code, string(raw))
	}
	code, raw = a.callWith("POST", "/api/v1/events", strings.Repeat("e", 40), string(latin1(`{"type":"hard_bounce","email":"é@example.com"}`)))
	require.Equal(t, 400, code, string(raw))
	// An Idempotency-Key that is not printable ASCII.
	req, _ := http.NewRequest("POST", a.Base+"/api/v1/campaigns", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+a.Key)
	req.Header.Set("Idempotency-Key", "key-\xe9")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 400, resp.StatusCode)
	// Path and query parameters.
	for _, path := range []string{"/api/v1/suppressions/a%00b@example.com", "/api/v1/contacts/1%00", "/api/v1/keys/%E9"} {
		code, _ = a.call("DELETE", path, a.Key, nil, nil)
		require.Equal(t, 404, code, path)
	}
	code, raw = a.call("GET", "/api/v1/contacts?tier=a%00b", a.Key, nil, nil)
	require.Equal(t, 400, code, string(raw))
}

// callWith is call with a raw body and a bearer token that is not an API
// key (the events secret).
func (a *testApp) callWith(method, path, bearer, body string) (int, []byte) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.Base+path, strings.NewReader(body))
	require.NoError(a.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a.checkResponse(req, resp, raw)
	return resp.StatusCode, raw
}

// TestTemplatesAreBounded: a template that is cheap for the sample contact
// of the create check but writes 600 KB for one real contact is refused by
// the preview (422 naming the field) and, at send time, fails that one
// delivery as failed_local with the limit in its rule: no message over the
// limit is built, nothing is suppressed, the other contact gets theirs.
func TestTemplatesAreBounded(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	zone := zoneInWindow()
	var big, small struct{ ID int64 }
	code, raw := a.call("POST", "/api/v1/contacts", a.Key, map[string]any{"email": "big@example.com", "tier": "high", "timezone": zone}, &big)
	require.Equal(t, 201, code, string(raw))
	code, raw = a.call("POST", "/api/v1/contacts", a.Key, map[string]any{"email": "small@example.com", "tier": "high", "timezone": zone}, &small)
	require.Equal(t, 201, code, string(raw))
	var camp struct{ ID int64 }
	code, raw = a.call("POST", "/api/v1/campaigns", a.Key, map[string]any{"name": "Bounded", "topic": "offers", "subject": "Hi",
		"text": "Hello", "html": `<p>Hello</p>{{if eq .Contact.Email "big@example.com"}}{{range 6000}}{{printf "%0100d" 0}}{{end}}{{end}}`,
		"audience": map[string]any{"contact_ids": []int64{big.ID, small.ID}}}, &camp)
	require.Equal(t, 201, code, "the sample contact renders small: %s", raw)

	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/preview", a.Key, map[string]any{"contact_id": big.ID}, nil)
	require.Equal(t, 422, code, "a %d-byte preview", len(raw))
	require.Contains(t, fieldsOf(t, raw), "html")
	require.Contains(t, string(raw), "larger than 512 KiB")
	code, _ = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/preview", a.Key, map[string]any{"contact_id": small.ID}, nil)
	require.Equal(t, 200, code)

	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/send", a.Key, nil, nil)
	require.Equal(t, 202, code, string(raw))
	state, reason, _ := a.pcDelivery(camp.ID, big.ID, "sent", "failed", "skipped", "unknown")
	require.Equal(t, "failed/failed_local", state+"/"+reason)
	var rule string
	require.NoError(t, a.DB.QueryRow(context.Background(), "SELECT rule FROM deliveries WHERE campaign_id = $1 AND contact_id = $2", camp.ID, big.ID).Scan(&rule))
	require.Equal(t, "template: the html part is larger than 512 KiB (TEMPLATE_MAX_BYTES)", rule)
	a.pcDelivery(camp.ID, small.ID, "sent")
	require.Empty(t, a.pcMessagesTo("big@example.com"))
	require.Len(t, a.pcMessagesTo("small@example.com"), 1)
	require.Empty(t, a.pcSuppression("big@example.com"))
}

// TestAuthFailuresAreLimited: after 20 wrong API keys within a minute from
// one client address, every credential check from it is a 429 with
// Retry-After — the right key too, so guessing cannot go on — and the log
// says so without the keys; another address is not affected. The events
// secret counts the same way.
func TestAuthFailuresAreLimited(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", 40)
	// Trusting the loopback proxy lets the test speak from several
	// addresses.
	a := startApp(t, map[string]string{"TRUSTED_PROXIES": "127.0.0.1/32", "EVENTS_SECRET": secret})
	get := func(from, auth string) (int, http.Header) {
		req, _ := http.NewRequest("GET", a.Base+"/api/v1/tiers", nil)
		req.Header.Set("Authorization", auth)
		req.Header.Set("X-Forwarded-For", from)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	for i := range 20 {
		code, _ := get("203.0.113.9", fmt.Sprintf("Bearer rpk_0123456789abcdef_guess%02d", i))
		require.Equal(t, http.StatusUnauthorized, code, "guess %d", i)
	}
	code, h := get("203.0.113.9", "Bearer "+a.Key)
	require.Equal(t, http.StatusTooManyRequests, code, "even the right key: no more guessing")
	require.NotEmpty(t, h.Get("Retry-After"))
	require.Equal(t, "application/problem+json", h.Get("Content-Type"))
	code, _ = get("203.0.113.10", "Bearer "+a.Key)
	require.Equal(t, http.StatusOK, code, "another address")
	code, _ = get("203.0.113.11", "")
	require.Equal(t, http.StatusUnauthorized, code, "no key is not a guess")
	log := a.stderr.String()
	require.Contains(t, log, "too many failed authentication attempts")
	require.Contains(t, log, "203.0.113.9")
	require.NotContains(t, log, "guess")
	require.NotContains(t, log, a.Key)

	event := func(from, bearer string) int {
		req, _ := http.NewRequest("POST", a.Base+"/api/v1/events", strings.NewReader(`{"type":"hard_bounce","email":"x@example.com"}`))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("X-Forwarded-For", from)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 20 {
		require.Equal(t, http.StatusUnauthorized, event("198.51.100.4", fmt.Sprintf("wrong-secret-%02d", i)))
	}
	require.Equal(t, http.StatusTooManyRequests, event("198.51.100.4", secret))
	require.Equal(t, http.StatusAccepted, event("198.51.100.5", secret))
}

// TestChunkedBodyOverLimitIs413: a body over BODY_LIMIT is a 413 whether
// its length is announced or not (Transfer-Encoding: chunked).
func TestChunkedBodyOverLimitIs413(t *testing.T) {
	t.Parallel()
	a := startApp(t, map[string]string{"BODY_LIMIT": "1K"})
	body := `{"email":"a@example.com","tier":"low","name":"` + strings.Repeat("x", 4<<10) + `"}`
	for _, chunked := range []bool{false, true} {
		req, _ := http.NewRequest("POST", a.Base+"/api/v1/contacts", strings.NewReader(body))
		if chunked {
			req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
		}
		req.Header.Set("Authorization", "Bearer "+a.Key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "chunked=%v: %s", chunked, raw)
	}
	require.Zero(t, a.count("contacts"))
}

// TestAPIAnswersAreNotSniffedOrCached: every API answer, errors included,
// says no content sniffing and no caching (they hold contacts' data).
func TestAPIAnswersAreNotSniffedOrCached(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	for _, c := range []struct{ path, key string }{
		{"/api/v1/contacts", a.Key}, {"/api/v1/contacts", ""}, {"/api/v1/contacts/999", a.Key}, {"/api/v1/openapi.json", ""}, {"/healthz", ""},
	} {
		req, _ := http.NewRequest("GET", a.Base+c.path, nil)
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), c.path)
		require.Equal(t, "no-store", resp.Header.Get("Cache-Control"), c.path)
	}
}
