package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// zoneBeforeWindow is a fixed-offset zone where it is now about 05:00, so
// the default 08:00–20:00 send window opens in about three hours.
func zoneBeforeWindow() string {
	off := 5 - time.Now().UTC().Hour()
	if off > 12 {
		off -= 24
	}
	if off < -12 {
		off += 24
	}
	switch {
	case off == 0:
		return "UTC"
	case off > 0:
		return fmt.Sprintf("Etc/GMT-%d", off)
	default:
		return fmt.Sprintf("Etc/GMT+%d", -off)
	}
}

type forecastAnswer struct {
	Contacts int
	Reasons  map[string]int
	Tiers    map[string]struct {
		Now, Deferred, Expired int
		Skipped                map[string]int
		DeferredUntil          []struct {
			Within string
			Count  int
		} `json:"deferred_until"`
		Rules []struct {
			Reason, Rule string
			Count        int
		}
	}
	Displaces []struct {
		CampaignID           int64 `json:"campaign_id"`
		Name                 string
		Priority             int
		Count                int
		Replanned, Preempted int
		Reasons              map[string]int
		Tiers                map[string]struct{ Count, Replanned, Preempted int }
	}
}

type statsAnswer struct {
	Total struct {
		Total, Scheduled, Deferred, Sent int
		Skipped                          map[string]int
	}
}

// TestForecastShowsDisplacement reproduces the console issue's case: a
// priority-90 campaign over 100 contacts whose only weekly slot a
// priority-10 campaign had reserved. The forecast now says, besides the
// 90's own deferral to the window, that it would preempt all 100 of the
// 10's deliveries; launching it does exactly that.
func TestForecastShowsDisplacement(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	marketer := a.newKey("marketer")
	var csv strings.Builder
	csv.WriteString("email,name,tier,timezone\n")
	for i := range 100 {
		fmt.Fprintf(&csv, "weekly%d@example.com,Weekly %d,medium,%s\n", i, i, zoneBeforeWindow())
	}
	code, imp, raw := a.importCSV(marketer, "", "text/csv", csv.String())
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, 100, imp.Created)

	create := func(name string, priority int, expires string) int64 {
		var c struct{ ID int64 }
		code, raw := a.call("POST", "/api/v1/campaigns", marketer, map[string]any{"name": name, "topic": "offers", "priority": priority,
			"subject": "S", "text": "T", "html": "<p>H</p>", "expires_after": expires, "audience": map[string]any{"tiers": []string{"medium"}}}, &c)
		require.Equal(t, http.StatusCreated, code, string(raw))
		return c.ID
	}
	stats := func(id int64) statsAnswer {
		var s statsAnswer
		code, raw := a.call("GET", "/api/v1/campaigns/"+itoa(id)+"/stats", marketer, nil, &s)
		require.Equal(t, http.StatusOK, code, string(raw))
		return s
	}

	low := create("Weekly digest", 10, "12h")
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(low)+"/send", marketer, nil, nil)
	require.Equal(t, http.StatusAccepted, code, string(raw))
	require.Eventually(t, func() bool { return stats(low).Total.Deferred == 100 }, 20*time.Second, 50*time.Millisecond,
		"the digest reserves the window's opening for everyone")

	high := create("Recall notice", 90, "3d")
	var fc forecastAnswer
	code, raw = a.call("GET", "/api/v1/campaigns/"+itoa(high)+"/forecast", marketer, nil, &fc)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, 100, fc.Contacts)
	require.Equal(t, map[string]int{"deferred_send_window": 100}, fc.Reasons, "its own messages wait for the window")
	medium := fc.Tiers["medium"]
	require.Equal(t, 100, medium.Deferred)
	require.Len(t, medium.Rules, 1)
	require.Equal(t, "deferred_send_window", medium.Rules[0].Reason)
	require.Contains(t, medium.Rules[0].Rule, "send_window")
	require.Len(t, medium.DeferredUntil, 7)
	require.Len(t, fc.Displaces, 1, "and it takes the digest's slots: %s", raw)
	d := fc.Displaces[0]
	require.Equal(t, low, d.CampaignID)
	require.Equal(t, "Weekly digest", d.Name)
	require.Equal(t, 10, d.Priority)
	require.Equal(t, 100, d.Count)
	require.Equal(t, 100, d.Preempted, "no other slot before the digest expires")
	require.Zero(t, d.Replanned)
	require.Equal(t, map[string]int{"preempted": 100}, d.Reasons)
	require.Equal(t, 100, d.Tiers["medium"].Preempted)
	require.Equal(t, 100, stats(low).Total.Deferred, "a forecast writes nothing")

	// Launched, it does what the forecast said.
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(high)+"/send", marketer, nil, nil)
	require.Equal(t, http.StatusAccepted, code, string(raw))
	require.Eventually(t, func() bool { return stats(high).Total.Deferred == 100 }, 20*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool { return stats(low).Total.Skipped["preempted"] == 100 }, 20*time.Second, 50*time.Millisecond)
	var reasons []string
	require.NoError(t, a.DB.QueryRow(t.Context(), `SELECT array_agg(DISTINCT reason) FROM deliveries WHERE campaign_id = $1`, high).Scan(&reasons))
	require.Equal(t, []string{"deferred_send_window"}, reasons)
}
