package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type driftAnswer struct {
	ContactID     int64  `json:"contact_id"`
	Tier          string `json:"tier"`
	SuggestedTier string `json:"suggested_tier"`
	Toward        string
	Confidence    string
	Fingerprint   string
	Evidence      []struct {
		Rule, Toward, Text string
		Facts              []struct {
			Kind string
			At   time.Time
		}
	}
}

func (d driftAnswer) texts() []string {
	var out []string
	for _, e := range d.Evidence {
		out = append(out, e.Text)
	}
	return out
}

func (a *testApp) drift(key, query string) []driftAnswer {
	a.t.Helper()
	var page struct{ Items []driftAnswer }
	code, raw := a.call("GET", "/api/v1/insights/drift"+query, key, nil, &page)
	require.Equal(a.t, http.StatusOK, code, string(raw))
	return page.Items
}

func TestDrift(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	viewer, marketer := a.newKey("viewer"), a.newKey("marketer")
	now := time.Now().UTC()
	ago := func(days int) time.Time { return now.AddDate(0, 0, -days) }
	recent := ago(1)
	h := newHistory(t, a)
	h.contact("l@example.com", "low", "", "active", ago(400), &recent)     // company signals say closer
	h.contact("h@example.com", "high", "low", "active", ago(400), &recent) // chose low 40 days ago, paused twice
	h.contact("o@example.com", "medium", "", "active", ago(400), ptr(ago(70)))
	h.contact("n@example.com", "medium", "", "active", ago(400), &recent) // nothing to say
	h.event("h@example.com", "preferences_changed", `{"before":{"preferred_tier":"","topics_opted_out":[]},"after":{"preferred_tier":"low","topics_opted_out":[]}}`, ago(40))
	h.event("h@example.com", "paused", `{}`, ago(80))
	h.event("h@example.com", "resumed", `{}`, ago(50))
	h.event("h@example.com", "paused", `{}`, ago(10))
	h.event("h@example.com", "paused", `{}`, ago(100)) // outside the 90 days
	h.commit()
	l, hc, o, n := a.id("l@example.com"), a.id("h@example.com"), a.id("o@example.com"), a.id("n@example.com")

	// Signals: three purchases, a meeting and a support ticket (which is
	// not closeness), one purchase outside the 60 days.
	signals := a.count("contact_signals")
	for _, s := range []struct {
		typ  string
		days int
	}{{"purchase", 50}, {"purchase", 20}, {"meeting", 2}, {"purchase", 1}, {"support_ticket", 1}, {"purchase", 70}} {
		var out struct {
			ID   int64
			Type string
		}
		code, raw := a.call("POST", "/api/v1/contacts/"+itoa(l)+"/signals", marketer, map[string]any{"type": s.typ,
			"at": ago(s.days).Format(time.RFC3339), "detail": "order"}, &out)
		require.Equal(t, http.StatusCreated, code, string(raw))
		require.Equal(t, s.typ, out.Type)
	}
	require.Equal(t, signals+6, a.count("contact_signals"))
	signals += 6
	for _, bad := range []struct {
		name, body, field string
		code              int
	}{
		{"an unknown type", `{"type":"coffee","at":"2026-01-01T10:00:00Z"}`, "type", 422},
		{"the future", `{"type":"reply","at":"` + now.Add(time.Hour).Format(time.RFC3339) + `"}`, "at", 422},
		{"no time", `{"type":"reply"}`, "at", 422},
		{"an unreadable time", `{"type":"reply","at":"yesterday"}`, "at", 400},
		{"a number for a type", `{"type":3,"at":"2026-01-01T10:00:00Z"}`, "type", 400},
		{"an unknown field", `{"type":"reply","at":"2026-01-01T10:00:00Z","score":9}`, "score", 400},
		{"bad JSON", `{"type":`, "", 400},
	} {
		code, raw := a.call("POST", "/api/v1/contacts/"+itoa(l)+"/signals", marketer, bad.body, nil)
		require.Equal(t, bad.code, code, bad.name+": "+string(raw))
		if bad.field != "" {
			require.Contains(t, fieldsOf(t, raw), bad.field, bad.name)
		}
	}
	code, _ := a.call("POST", "/api/v1/contacts/999999/signals", marketer, map[string]any{"type": "reply", "at": ago(1).Format(time.RFC3339)}, nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = a.call("POST", "/api/v1/contacts/"+itoa(l)+"/signals", viewer, map[string]any{"type": "reply", "at": ago(1).Format(time.RFC3339)}, nil)
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, signals, a.count("contact_signals"), "rejected signals write nothing")

	a.rollup(now) // pauses reach the drift rules through the insight ledger

	items := a.drift(viewer, "")
	require.Len(t, items, 3)
	require.Equal(t, []int64{l, hc, o}, []int64{items[0].ContactID, items[1].ContactID, items[2].ContactID})
	require.Equal(t, []string{"low", "medium", "closer", "medium"}, []string{items[0].Tier, items[0].SuggestedTier, items[0].Toward, items[0].Confidence})
	require.Equal(t, []string{"3 purchases and a meeting in 60 days while assigned `low`"}, items[0].texts())
	require.Len(t, items[0].Evidence[0].Facts, 4)
	require.Equal(t, []string{"high", "medium", "further", "high"}, []string{items[1].Tier, items[1].SuggestedTier, items[1].Toward, items[1].Confidence})
	require.Equal(t, []string{"chose `low` as preferred frequency 40 days ago while assigned `high`", "paused twice in 90 days"}, items[1].texts())
	require.Equal(t, []string{"medium", "low", "further", "medium"}, []string{items[2].Tier, items[2].SuggestedTier, items[2].Toward, items[2].Confidence})
	require.Equal(t, []string{"overdue: no message for 70 days, 2× the target interval of `medium` (30 days)"}, items[2].texts())
	require.Len(t, a.drift(viewer, "?tier=low"), 1)
	code, raw := a.call("GET", "/api/v1/insights/drift?tier=gold", viewer, nil, nil)
	require.Equal(t, 422, code)
	require.Contains(t, fieldsOf(t, raw), "tier")

	// Thresholds: defaults, changed per tier (audited), bad ones refused.
	var th struct {
		Items []map[string]any
	}
	code, raw = a.call("GET", "/api/v1/insights/drift/thresholds", a.Key, nil, &th)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Len(t, th.Items, 3)
	require.Equal(t, "high", th.Items[0]["tier"])
	require.Equal(t, "30d", th.Items[0]["preference_age"])
	require.Equal(t, 3.0, th.Items[0]["closer_signals"])
	code, _ = a.call("GET", "/api/v1/insights/drift/thresholds", viewer, nil, nil)
	require.Equal(t, http.StatusForbidden, code)
	audits := a.count("audit_log")
	medium := th.Items[2]
	medium["overdue_factor"] = 3
	code, raw = a.call("PUT", "/api/v1/insights/drift/thresholds/medium", a.Key, medium, nil)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, audits+1, a.count("audit_log"))
	require.Len(t, a.drift(viewer, ""), 2, "70 days is not 3× the 30-day target")
	for _, bad := range []struct {
		body  string
		code  int
		field string
	}{{`{"pauses":-1}`, 422, "pauses"}, {`{"pause_window":"x"}`, 400, ""}, {`{"colour":1}`, 400, "colour"}, {`{"tier":"low"}`, 422, "tier"}} {
		code, raw := a.call("PUT", "/api/v1/insights/drift/thresholds/medium", a.Key, bad.body, nil)
		require.Equal(t, bad.code, code, bad.body+" "+string(raw))
		if bad.field != "" {
			require.Contains(t, fieldsOf(t, raw), bad.field, bad.body)
		}
	}
	code, _ = a.call("PUT", "/api/v1/insights/drift/thresholds/gold", a.Key, `{"pauses":1}`, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, audits+1, a.count("audit_log"))
	code, _ = a.call("PUT", "/api/v1/insights/drift/thresholds/medium", a.Key, `{"overdue_factor":2}`, nil)
	require.Equal(t, http.StatusOK, code)

	// Dismiss: not suggested again for the same evidence.
	code, raw = a.call("POST", "/api/v1/insights/drift/"+itoa(hc)+"/dismiss", a.Key, nil, nil)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, []int64{l, o}, ids(a.drift(viewer, "")))
	code, _ = a.call("POST", "/api/v1/insights/drift/"+itoa(hc)+"/dismiss", a.Key, nil, nil)
	require.Equal(t, http.StatusConflict, code)
	var ct struct{ Tier string }
	a.call("GET", "/api/v1/contacts/"+itoa(hc), viewer, nil, &ct)
	require.Equal(t, "high", ct.Tier, "dismissing keeps the tier")

	// Accept: only the evidence shown, only by an admin.
	code, _ = a.call("POST", "/api/v1/insights/drift/"+itoa(l)+"/accept", a.Key, map[string]string{"fingerprint": "stale"}, nil)
	require.Equal(t, http.StatusConflict, code)
	code, _ = a.call("POST", "/api/v1/insights/drift/"+itoa(l)+"/accept", marketer, nil, nil)
	require.Equal(t, http.StatusForbidden, code)
	var acc struct {
		Decision string
		Contact  struct{ Tier string }
	}
	code, raw = a.call("POST", "/api/v1/insights/drift/"+itoa(l)+"/accept", a.Key, map[string]string{"fingerprint": items[0].Fingerprint}, &acc)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, "accepted", acc.Decision)
	require.Equal(t, "medium", acc.Contact.Tier)
	a.call("GET", "/api/v1/contacts/"+itoa(l), viewer, nil, &ct)
	require.Equal(t, "medium", ct.Tier)
	var tl struct {
		Items []struct{ Event string }
	}
	a.call("GET", "/api/v1/contacts/"+itoa(l)+"/timeline", viewer, nil, &tl)
	require.Equal(t, "drift_accepted", tl.Items[0].Event)
	var audit struct {
		Items []struct{ Action string }
	}
	a.call("GET", "/api/v1/audit?entity=contact&entity_id="+itoa(l), a.Key, nil, &audit)
	require.Equal(t, "drift_accept", audit.Items[0].Action)
	require.Equal(t, []int64{o}, ids(a.drift(viewer, "")), "the evidence acted upon does not push again")

	// New evidence is a new suggestion: closer again, from medium.
	code, _ = a.call("POST", "/api/v1/contacts/"+itoa(l)+"/signals", marketer, map[string]any{"type": "reply", "at": ago(0).Format(time.RFC3339)}, nil)
	require.Equal(t, http.StatusCreated, code)
	items = a.drift(viewer, "")
	require.Equal(t, []int64{l, o}, ids(items))
	require.Equal(t, "high", items[0].SuggestedTier)
	code, _ = a.call("POST", "/api/v1/insights/drift/"+itoa(n)+"/accept", a.Key, nil, nil)
	require.Equal(t, http.StatusConflict, code, "nothing to accept")
	code, _ = a.call("POST", "/api/v1/insights/drift/999999/accept", a.Key, nil, nil)
	require.Equal(t, http.StatusNotFound, code)
}

func ids(items []driftAnswer) []int64 {
	out := []int64{}
	for _, it := range items {
		out = append(out, it.ContactID)
	}
	return out
}

func ptr[T any](v T) *T { return &v }
