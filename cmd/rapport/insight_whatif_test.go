package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type tallyAnswer struct {
	Sent, Deferred, Expired, Pending, Skipped int
}

type whatIfAnswer struct {
	Tier string
	Days int
	Past struct {
		Contacts, Deliveries int
		Before, After        tallyAnswer
		Campaigns            []struct {
			CampaignID    int64 `json:"campaign_id"`
			Before, After tallyAnswer
		}
		Histogram []struct {
			Messages      string
			Before, After int
		} `json:"messages_per_contact_30d"`
		Change struct {
			More, Fewer, Same int
			MoreIDs           []int64 `json:"more_ids"`
			FewerIDs          []int64 `json:"fewer_ids"`
		} `json:"contacts_change"`
	}
	Scheduled struct {
		Total struct{ Scheduled, Same, Earlier, Later, Expired int }
	}
	Recurring []struct {
		CampaignID        int64 `json:"campaign_id"`
		Current, Proposed struct{ Now, Deferred, Expired int }
	}
	Assumptions []string
}

// whatIfWorld: a tier "weekly" (1 message per 7 days, always open) and two
// of its contacts, planned by that rule (no jitter) over the last 20 days:
//
//	X1 fired -20d (expires a day later): sent to c1 and c2
//	X2 fired -18d: c1 expired (the cap until -13d), c2 skipped (paused)
//	X3 fired -4d:  sent to both
//	X4 fired -1d:  c1 deferred by the cap to +3d (still scheduled)
//
// and a medium contact with a delivery, who is not replayed.
func whatIfWorld(t *testing.T, a *testApp) (now time.Time) {
	code, raw := a.call("POST", "/api/v1/tiers", a.Key, map[string]any{"key": "weekly", "name": "Weekly", "rank": 25,
		"caps": []map[string]any{{"max": 1, "window": "7d"}}}, nil)
	require.Equal(t, http.StatusCreated, code, string(raw))
	now = time.Now().UTC().Truncate(time.Second)
	at := func(d float64) time.Time { return now.Add(time.Duration(d * 24 * float64(time.Hour))) }
	p := func(t time.Time) *time.Time { return &t }
	h := newHistory(t, a)
	h.contact("c1@example.com", "weekly", "", "active", at(-40), nil)
	h.contact("c2@example.com", "weekly", "", "active", at(-40), nil)
	h.contact("other@example.com", "medium", "", "active", at(-40), nil)
	for _, n := range []string{"X1", "X2", "X3", "X4"} {
		h.campaign(n, 50)
	}
	h.run("X1", at(-20), at(-19))
	h.run("X2", at(-18), at(-17))
	h.run("X3", at(-4), at(-3))
	h.run("X4", at(-1), at(5))
	for _, c := range []string{"c1", "c2"} {
		h.delivery("X1", at(-20), c+"@example.com", "weekly", "sent", "sent", at(-20), p(at(-20)))
		h.delivery("X3", at(-4), c+"@example.com", "weekly", "sent", "sent", at(-4), p(at(-4)))
	}
	h.delivery("X2", at(-18), "c1@example.com", "weekly", "skipped", "expired", at(-18), nil)
	h.delivery("X2", at(-18), "c2@example.com", "weekly", "skipped", "paused", at(-18), nil)
	h.delivery("X4", at(-1), "c1@example.com", "weekly", "scheduled", "deferred_cap", at(3), nil)
	h.delivery("X1", at(-20), "other@example.com", "medium", "sent", "sent", at(-20), p(at(-20)))
	h.commit()
	return now
}

func TestTierWhatIf(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	marketer := a.newKey("marketer")
	whatIfWorld(t, a)
	c1 := a.id("c1@example.com")
	// A recurring campaign for the tier, firing daily at noon UTC.
	var camp struct{ ID int64 }
	code, raw := a.call("POST", "/api/v1/campaigns", a.Key, map[string]any{"name": "Daily", "topic": "offers", "subject": "S",
		"text": "T", "html": "<p>H</p>", "audience": map[string]any{"tiers": []string{"weekly"}}, "cron": "0 12 * * *", "timezone": "UTC"}, &camp)
	require.Equal(t, http.StatusCreated, code, string(raw))
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/schedule", a.Key, nil, nil)
	require.Equal(t, http.StatusOK, code, string(raw))

	var tier map[string]any
	code, _ = a.call("GET", "/api/v1/tiers/weekly", a.Key, nil, &tier)
	require.Equal(t, http.StatusOK, code)
	audits := a.count("audit_log")

	// The rule in force, sent back as GET answers it (version and
	// updated_at included): the replay reproduces what happened.
	var same whatIfAnswer
	code, raw = a.call("POST", "/api/v1/tiers/weekly/what-if", a.Key, tier, &same)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, same.Past.Before, same.Past.After)
	require.Equal(t, tallyAnswer{Sent: 4, Deferred: 1, Expired: 1, Pending: 1, Skipped: 1}, same.Past.Before)
	require.Equal(t, 1, same.Scheduled.Total.Same)
	require.Equal(t, 2, same.Past.Change.Same)

	// Daily instead of weekly.
	tier["caps"] = []map[string]any{{"max": 1, "window": "24h"}}
	tier["days"] = 30
	var w whatIfAnswer
	code, raw = a.call("POST", "/api/v1/tiers/weekly/what-if", a.Key, tier, &w)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, "weekly", w.Tier)
	require.Equal(t, 30, w.Days)
	require.Equal(t, 2, w.Past.Contacts, "the medium contact is not replayed")
	require.Equal(t, 7, w.Past.Deliveries)
	require.Equal(t, tallyAnswer{Sent: 4, Deferred: 1, Expired: 1, Pending: 1, Skipped: 1}, w.Past.Before)
	require.Equal(t, tallyAnswer{Sent: 6, Skipped: 1}, w.Past.After, "X2 and X4 would have gone to c1; c2's pause still holds")
	byCampaign := map[int64][2]tallyAnswer{}
	for _, c := range w.Past.Campaigns {
		byCampaign[c.CampaignID] = [2]tallyAnswer{c.Before, c.After}
	}
	require.Equal(t, map[int64][2]tallyAnswer{
		1: {{Sent: 2}, {Sent: 2}},
		2: {{Expired: 1, Skipped: 1}, {Sent: 1, Skipped: 1}},
		3: {{Sent: 2}, {Sent: 2}},
		4: {{Deferred: 1, Pending: 1}, {Sent: 1}},
	}, byCampaign)
	hist := map[string][2]int{}
	for _, b := range w.Past.Histogram {
		hist[b.Messages] = [2]int{b.Before, b.After}
	}
	require.Equal(t, map[string][2]int{"0": {0, 0}, "1": {0, 0}, "2": {2, 1}, "3": {0, 0}, "4-5": {0, 1}, "6-9": {0, 0}, "10+": {0, 0}}, hist)
	require.Equal(t, 1, w.Past.Change.More)
	require.Equal(t, 1, w.Past.Change.Same)
	require.Equal(t, []int64{c1}, w.Past.Change.MoreIDs)
	require.Equal(t, struct{ Scheduled, Same, Earlier, Later, Expired int }{Scheduled: 1, Earlier: 1}, w.Scheduled.Total,
		"c1's X4 would go now instead of in 3 days")
	// The next daily firing: under weekly both contacts wait (c1 behind its
	// reservation, c2 until 7 days after X3); under daily both go.
	require.Len(t, w.Recurring, 1)
	require.Equal(t, camp.ID, w.Recurring[0].CampaignID)
	require.Equal(t, struct{ Now, Deferred, Expired int }{Deferred: 2}, w.Recurring[0].Current)
	require.Equal(t, struct{ Now, Deferred, Expired int }{Now: 2}, w.Recurring[0].Proposed)
	require.NotEmpty(t, w.Assumptions)

	// Nothing was written, and the tier is as it was.
	require.Equal(t, audits, a.count("audit_log"))
	var after map[string]any
	a.call("GET", "/api/v1/tiers/weekly", a.Key, nil, &after)
	require.Equal(t, tier["version"], after["version"])

	valid := func() map[string]any {
		var m map[string]any
		b, _ := json.Marshal(tier)
		_ = json.Unmarshal(b, &m)
		return m
	}
	for _, bad := range []struct {
		name  string
		edit  func(m map[string]any)
		code  int
		field string
	}{
		{"no caps", func(m map[string]any) { m["caps"] = []any{} }, 422, "caps"},
		{"a zero cap", func(m map[string]any) { m["caps"] = []map[string]any{{"max": 0, "window": "7d"}} }, 422, "caps[0].max"},
		{"a bad window", func(m map[string]any) { m["caps"] = []map[string]any{{"max": 1, "window": "7"}} }, 400, ""},
		{"days 0", func(m map[string]any) { m["days"] = 0 }, 422, "days"},
		{"days 91", func(m map[string]any) { m["days"] = 91 }, 422, "days"},
		{"days as text", func(m map[string]any) { m["days"] = "ten" }, 400, "days"},
		{"an unknown field", func(m map[string]any) { m["colour"] = "red" }, 400, "colour"},
		{"another key", func(m map[string]any) { m["key"] = "high" }, 422, "key"},
		{"no rank", func(m map[string]any) { delete(m, "rank") }, 422, "rank"},
	} {
		m := valid()
		bad.edit(m)
		code, raw := a.call("POST", "/api/v1/tiers/weekly/what-if", a.Key, m, nil)
		require.Equal(t, bad.code, code, bad.name+": "+string(raw))
		if bad.field != "" {
			require.Contains(t, fieldsOf(t, raw), bad.field, bad.name)
		}
	}
	// Both at fault: both said, in one answer.
	m := valid()
	m["days"] = 91
	m["caps"] = []map[string]any{{"max": 0, "window": "7d"}}
	code, raw = a.call("POST", "/api/v1/tiers/weekly/what-if", a.Key, m, nil)
	require.Equal(t, 422, code, string(raw))
	require.Contains(t, fieldsOf(t, raw), "days")
	require.Contains(t, fieldsOf(t, raw), "caps[0].max")
	code, _ = a.call("POST", "/api/v1/tiers/gold/what-if", a.Key, valid(), nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = a.call("POST", "/api/v1/tiers/weekly/what-if", marketer, valid(), nil)
	require.Equal(t, http.StatusForbidden, code)
	code, _ = a.call("POST", "/api/v1/tiers/weekly/what-if", a.Key, "{not json", nil)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, audits, a.count("audit_log"))
}
