package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/stretchr/testify/require"
)

// The API accepts what it returns: a resource as GET answers it, changed in
// one field and sent back whole (PUT for tiers, PATCH for contacts and
// campaigns), changes exactly that field. Read-only fields are ignored when
// they match the stored resource; a contradicting id, key or status is 422
// and writes nothing; a field the server never answers is still 400.

// getObject GETs path as the admin and answers the body as a JSON object.
func (a *testApp) getObject(t *testing.T, path string) map[string]any {
	t.Helper()
	var out map[string]any
	code, raw := a.call("GET", path, a.Key, nil, &out)
	require.Equal(t, http.StatusOK, code, string(raw))
	return out
}

// jsonValue is v as encoding/json reads it back into an any: the form
// getObject answers, so expected values compare with require.Equal.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

// copyObject deep-copies a JSON object.
func copyObject(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	return jsonValue(t, m).(map[string]any)
}

// withField is a copy of m with k set to v.
func withField(t *testing.T, m map[string]any, k string, v any) map[string]any {
	t.Helper()
	out := copyObject(t, m)
	out[k] = jsonValue(t, v)
	return out
}

// requireOnlyChanged checks that after is before with field set to want:
// the same fields, every other one unchanged, except updated_at, which must
// advance, and version (tiers), which must go up by one.
func requireOnlyChanged(t *testing.T, before, after map[string]any, field string, want any) {
	t.Helper()
	require.Equal(t, slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)), "the same fields")
	want = jsonValue(t, want)
	require.NotEqual(t, before[field], want, "the test must change %s", field)
	for k, was := range before {
		now := after[k]
		switch k {
		case field:
			require.Equal(t, want, now, "%s is the changed field", k)
		case "updated_at":
			b, err := time.Parse(time.RFC3339Nano, was.(string))
			require.NoError(t, err)
			n, err := time.Parse(time.RFC3339Nano, now.(string))
			require.NoError(t, err)
			require.True(t, n.After(b), "updated_at advances: %s -> %s", was, now)
		case "version":
			require.Equal(t, was.(float64)+1, now, "version advances by one")
		default:
			require.Equal(t, was, now, "%s is unchanged", k)
		}
	}
}

// requireRequestValid checks a request body against the operation's request
// schema in openapi.json: valid says whether it must pass. Read-only
// properties are allowed in requests (openapi3filter refuses them unless
// told otherwise, as OpenAPI says clients SHOULD NOT send them; this API
// accepts them back).
func (a *testApp) requireRequestValid(t *testing.T, method, path string, body any, valid bool) {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, a.Base+path, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	router, err := openAPIRouter()
	require.NoError(t, err)
	route, params, err := router.FindRoute(req)
	require.NoError(t, err)
	err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			ExcludeReadOnlyValidations: true, MultiError: true},
	})
	if valid {
		require.NoError(t, err, "%s %s: the body must match the request schema: %s", method, path, raw)
	} else {
		require.Error(t, err, "%s %s: the body must not match the request schema: %s", method, path, raw)
	}
}

// roundTrip sends body with method to path as the admin and checks the
// answer and a fresh GET: exactly field changed, to want.
func (a *testApp) roundTrip(t *testing.T, method, path string, before, body map[string]any, field string, want any) map[string]any {
	t.Helper()
	a.requireRequestValid(t, method, path, body, true)
	var answered map[string]any
	code, raw := a.call(method, path, a.Key, body, &answered)
	require.Equal(t, http.StatusOK, code, string(raw))
	after := a.getObject(t, path)
	require.Equal(t, after, answered, "the answer is the resource as GET answers it")
	requireOnlyChanged(t, before, after, field, want)
	return after
}

// refused sends body and checks that it is refused with code, naming field
// (unless empty), its problem document containing detail (unless empty).
func (a *testApp) refused(t *testing.T, method, path string, body any, code int, field, detail string) {
	t.Helper()
	got, raw := a.call(method, path, a.Key, body, nil)
	require.Equal(t, code, got, string(raw))
	if field != "" {
		require.Contains(t, fieldsOf(t, raw), field, string(raw))
	}
	if detail != "" {
		require.Contains(t, string(raw), detail)
	}
}

// writeCounts counts what a change writes: audit entries and contact events.
func (a *testApp) writeCounts() [2]int {
	a.t.Helper()
	return [2]int{a.count("audit_log"), a.count("contact_events")}
}

func TestTierPutAcceptsWhatGetReturns(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	// A tier without a target interval or send window: GET answers
	// "target_interval": null, "min_gap": "0s" and an always-open window.
	code, raw := a.call("POST", "/api/v1/tiers", a.Key, map[string]any{"key": "vip", "name": "VIP", "rank": 40,
		"caps": []map[string]any{{"max": 2, "window": "24h"}}}, nil)
	require.Equal(t, http.StatusCreated, code, string(raw))

	for _, tc := range []struct {
		key   string
		field string
		value func(before map[string]any) any
	}{
		{"high", "caps", func(before map[string]any) any {
			caps := jsonValue(t, before["caps"]).([]any)
			caps[0].(map[string]any)["max"] = caps[0].(map[string]any)["max"].(float64) + 1
			return caps
		}},
		{"vip", "name", func(map[string]any) any { return "Very important" }},
	} {
		t.Run(tc.key, func(t *testing.T) {
			path := "/api/v1/tiers/" + tc.key
			before := a.getObject(t, path)
			for _, k := range []string{"key", "version", "updated_at"} {
				require.Contains(t, before, k)
			}
			if tc.key == "vip" {
				require.Nil(t, before["target_interval"], "GET answers null for no target interval")
			}
			want := tc.value(before)
			a.roundTrip(t, "PUT", path, before, withField(t, before, tc.field, want), tc.field, want)
		})
	}

	// version and updated_at are informational: stale ones are ignored and
	// the PUT makes a new version all the same.
	path := "/api/v1/tiers/high"
	before := a.getObject(t, path)
	stale := withField(t, withField(t, before, "version", 1), "updated_at", "2001-01-01T00:00:00Z")
	stale["name"] = "Close friends"
	a.roundTrip(t, "PUT", path, before, stale, "name", "Close friends")

	// A different key is refused (422, "key"), and so is a field the server
	// never answers (400): nothing is written.
	before = a.getObject(t, path)
	var hist struct{ Items []any }
	a.call("GET", path+"/history", a.Key, nil, &hist)
	versions, writes := len(hist.Items), a.writeCounts()
	a.refused(t, "PUT", path, withField(t, before, "key", "low"), http.StatusUnprocessableEntity, "key", "keys cannot be renamed")
	a.refused(t, "PUT", path, withField(t, before, "key", "vip"), http.StatusUnprocessableEntity, "key", "")
	unknown := withField(t, before, "colour", "red")
	a.requireRequestValid(t, "PUT", path, unknown, false)
	a.refused(t, "PUT", path, unknown, http.StatusBadRequest, "colour", "unknown field")
	a.refused(t, "PUT", path, withField(t, before, "version", "three"), http.StatusBadRequest, "version", "")
	require.Equal(t, before, a.getObject(t, path), "the tier is unchanged")
	a.call("GET", path+"/history", a.Key, nil, &hist)
	require.Len(t, hist.Items, versions, "no new version")
	require.Equal(t, writes, a.writeCounts(), "nothing written to the audit log")
	// POST still takes a tier as clients create it: read-only fields there
	// are unknown.
	code, raw = a.call("POST", "/api/v1/tiers", a.Key, withField(t, before, "key", "copy"), nil)
	require.Equal(t, http.StatusBadRequest, code, string(raw))
}

func TestContactPatchAcceptsWhatGetReturns(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	paused := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	create := func(body map[string]any) string {
		var c struct{ ID int64 }
		code, raw := a.call("POST", "/api/v1/contacts", a.Key, body, &c)
		require.Equal(t, http.StatusCreated, code, string(raw))
		return "/api/v1/contacts/" + itoa(c.ID)
	}
	full := create(map[string]any{"email": "ada@example.com", "external_id": "crm-1", "name": "Ada", "tier": "high",
		"preferred_tier": "medium", "timezone": "Europe/London", "locale": "en", "topics_opted_out": []string{"offers"},
		"paused_until": paused, "attributes": map[string]any{"plan": "pro", "seats": 3, "tags": []string{"a", "b"},
			"address": map[string]any{"city": "London"}}})
	bare := create(map[string]any{"email": "bob@example.com", "tier": "low"})
	gone := create(map[string]any{"email": "carol@example.com", "tier": "medium"})
	code, raw := a.call("POST", "/api/v1/suppressions", a.Key, map[string]any{"email": "carol@example.com", "reason": "unsubscribe"}, nil)
	require.Equal(t, http.StatusCreated, code, string(raw))

	for _, tc := range []struct {
		name, path, field string
		want              any
	}{
		{"attributes, preferred tier, paused", full, "name", "Ada King"},
		{"nulls", bare, "tier", "medium"},
		{"unsubscribed", gone, "locale", "fr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := a.getObject(t, tc.path)
			for _, k := range []string{"id", "status", "created_at", "updated_at"} {
				require.Contains(t, before, k)
			}
			a.roundTrip(t, "PATCH", tc.path, before, withField(t, before, tc.field, tc.want), tc.field, tc.want)
		})
	}
	before := a.getObject(t, full)
	require.Equal(t, paused, before["paused_until"])
	require.Equal(t, "medium", before["preferred_tier"])
	require.Equal(t, map[string]any{"plan": "pro", "seats": 3.0, "tags": []any{"a", "b"}, "address": map[string]any{"city": "London"}},
		before["attributes"])
	nulls := a.getObject(t, bare)
	for _, k := range []string{"external_id", "preferred_tier", "paused_until"} {
		require.Nil(t, nulls[k], "GET answers null for an empty %s", k)
	}
	require.Equal(t, "unsubscribed", a.getObject(t, gone)["status"], "a matching status is accepted, and stays")

	// A different id or status is 422 naming it; an unknown field stays 400;
	// a body of read-only fields only is 400. Nothing is written.
	writes := a.writeCounts()
	id := int64(before["id"].(float64))
	a.refused(t, "PATCH", full, withField(t, before, "id", id+1), http.StatusUnprocessableEntity, "id", "ids cannot be changed")
	a.refused(t, "PATCH", full, withField(t, before, "status", "unsubscribed"), http.StatusUnprocessableEntity, "status", "unsubscribes and suppressions")
	a.refused(t, "PATCH", gone, withField(t, a.getObject(t, gone), "status", "active"), http.StatusUnprocessableEntity, "status", "POST /api/v1/suppressions")
	unknown := withField(t, before, "favourite", "x")
	a.requireRequestValid(t, "PATCH", full, unknown, false)
	a.refused(t, "PATCH", full, unknown, http.StatusBadRequest, "favourite", "unknown field")
	a.refused(t, "PATCH", full, withField(t, before, "created_at", "yesterday"), http.StatusBadRequest, "created_at", "")
	a.refused(t, "PATCH", full, map[string]any{"status": "active"}, http.StatusBadRequest, "status", "read-only")
	a.refused(t, "PATCH", full, map[string]any{"id": id, "updated_at": before["updated_at"]}, http.StatusBadRequest, "id", "read-only")
	require.Equal(t, before, a.getObject(t, full), "the contact is unchanged")
	require.Equal(t, writes, a.writeCounts(), "no audit entry or contact event written")
}

func TestCampaignPatchAcceptsWhatGetReturns(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	sendAt := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	create := func(body map[string]any) string {
		var c struct{ ID int64 }
		code, raw := a.call("POST", "/api/v1/campaigns", a.Key, body, &c)
		require.Equal(t, http.StatusCreated, code, string(raw))
		return "/api/v1/campaigns/" + itoa(c.ID)
	}
	receipt := create(map[string]any{"name": "Receipt", "category": "transactional", "subject": "Your receipt",
		"text": "Thanks", "html": "<p>Thanks</p>"})
	weekly := create(map[string]any{"name": "Weekly", "topic": "offers", "subject": "S", "text": "T", "html": "<p>H</p>",
		"cron": "0 9 * * 1", "timezone": "Europe/Paris", "expires_after": "1d"})
	vip := create(map[string]any{"name": "VIP", "topic": "offers", "priority": 70, "subject": "Hi {{.Contact.Name}}",
		"text": "T", "html": "<p>H</p>", "send_at": sendAt, "expires_after": "3d",
		"variants": map[string]any{
			"high":   map[string]string{"subject": "VIP {{.Contact.Name}}", "text": "vip", "html": "<p>vip</p>"},
			"medium": map[string]string{"subject": "Hello {{.Contact.Name}}", "text": "m", "html": "<p>m</p>"}},
		"audience": map[string]any{"tiers": []string{"high", "medium"}, "attributes": map[string]string{"plan": "pro"}}})

	tx := a.getObject(t, receipt)
	for _, k := range []string{"topic", "cron", "timezone", "expires_after", "send_at"} {
		require.Nil(t, tx[k], "GET answers null for the transactional campaign's %s", k)
	}
	for _, tc := range []struct {
		name, path, field string
		want              func(before map[string]any) any
	}{
		{"transactional", receipt, "subject", func(map[string]any) any { return "Your receipt, again" }},
		{"recurring", weekly, "cron", func(map[string]any) any { return "30 8 * * 1-5" }},
		{"variants", vip, "variants", func(before map[string]any) any {
			v := jsonValue(t, before["variants"]).(map[string]any)
			v["high"].(map[string]any)["subject"] = "Dear {{.Contact.Name}}"
			return v
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := a.getObject(t, tc.path)
			for _, k := range []string{"id", "status", "created_at", "updated_at"} {
				require.Contains(t, before, k)
			}
			want := tc.want(before)
			a.roundTrip(t, "PATCH", tc.path, before, withField(t, before, tc.field, want), tc.field, want)
		})
	}
	// next_run_at, when a campaign answers it, is ignored like updated_at.
	before := a.getObject(t, receipt)
	a.roundTrip(t, "PATCH", receipt, before, withField(t, withField(t, before, "next_run_at", sendAt), "html", "<p>Thank you</p>"),
		"html", "<p>Thank you</p>")
	// A null where GET answers null for empty means empty.
	before = a.getObject(t, weekly)
	cleared := a.getObject(t, weekly)
	code, raw := a.call("PATCH", weekly, a.Key, map[string]any{"cron": nil, "timezone": nil}, &cleared)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Nil(t, cleared["cron"])
	require.Nil(t, cleared["timezone"])
	code, raw = a.call("PATCH", weekly, a.Key, map[string]any{"cron": before["cron"], "timezone": before["timezone"]}, nil)
	require.Equal(t, http.StatusOK, code, string(raw))

	// A different id or status is 422 naming it, with how status changes; an
	// unknown field stays 400; read-only fields alone are 400. Nothing is
	// written.
	before = a.getObject(t, vip)
	writes := a.writeCounts()
	id := int64(before["id"].(float64))
	a.refused(t, "PATCH", vip, withField(t, before, "id", id+1), http.StatusUnprocessableEntity, "id", "ids cannot be changed")
	a.refused(t, "PATCH", vip, withField(t, before, "status", "scheduled"), http.StatusUnprocessableEntity, "status", "/schedule")
	a.refused(t, "PATCH", vip, withField(t, before, "status", "running"), http.StatusUnprocessableEntity, "status", "/cancel")
	unknown := withField(t, before, "colour", "red")
	a.requireRequestValid(t, "PATCH", vip, unknown, false)
	a.refused(t, "PATCH", vip, unknown, http.StatusBadRequest, "colour", "unknown field")
	a.refused(t, "PATCH", vip, withField(t, before, "run_id", 1), http.StatusBadRequest, "run_id", "unknown field")
	a.refused(t, "PATCH", vip, map[string]any{"status": "draft"}, http.StatusBadRequest, "status", "read-only")
	require.Equal(t, before, a.getObject(t, vip), "the campaign is unchanged")
	require.Equal(t, writes, a.writeCounts(), "nothing written to the audit log")

	// Once scheduled, the campaign as GET answers it is still read: the
	// matching status passes, and only drafts change (409); the draft
	// status it had is a contradiction (422).
	code, raw = a.call("POST", weekly+"/schedule", a.Key, nil, nil)
	require.Equal(t, http.StatusOK, code, string(raw))
	before = a.getObject(t, weekly)
	require.Equal(t, "scheduled", before["status"])
	writes = a.writeCounts()
	a.refused(t, "PATCH", weekly, withField(t, before, "name", "Weekly v2"), http.StatusConflict, "", "only drafts can be changed")
	a.refused(t, "PATCH", weekly, withField(t, withField(t, before, "name", "Weekly v2"), "status", "draft"), http.StatusUnprocessableEntity, "status", "scheduled")
	require.Equal(t, before, a.getObject(t, weekly), "the campaign is unchanged")
	require.Equal(t, writes, a.writeCounts(), "nothing written to the audit log")
}
