package campaign

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

func TestTally(t *testing.T) {
	st := Tally(7, []postgres.StatRow{
		{Tier: "high", State: "sent", Reason: "sent", N: 5, Recent: 2},
		{Tier: "high", State: "scheduled", Reason: "scheduled", N: 1},
		{Tier: "high", State: "scheduled", Reason: "deferred_cap", N: 3},
		{Tier: "low", State: "skipped", Reason: "topic_opt_out", N: 4},
		{Tier: "low", State: "failed", Reason: "failed_permanent", N: 1},
		{Tier: "low", State: "sending", Reason: "scheduled", N: 2},
		{Tier: "low", State: "unknown", Reason: "unknown", N: 1},
	})
	require.Equal(t, int64(17), st.Total.Total)
	require.Equal(t, int64(5), st.Total.Sent)
	require.Equal(t, int64(2), st.Total.Recent)
	require.Equal(t, int64(1), st.Tiers["high"].Scheduled)
	require.Equal(t, int64(3), st.Tiers["high"].Deferred, "scheduled with a deferral's reason is deferred")
	require.Equal(t, map[outreach.Reason]int64{outreach.ReasonDeferredCap: 3}, st.Total.DeferredBy)
	require.Equal(t, int64(6), st.Total.Pending())
	require.Equal(t, int64(4), st.Tiers["low"].SkippedTotal())
	require.Equal(t, int64(1), st.Total.FailedTotal())
	require.Equal(t, int64(1), st.Total.Unknown)
}

func TestCan(t *testing.T) {
	allowed := map[outreach.CampaignStatus][]Action{
		outreach.CampaignDraft:     {ActionSend, ActionSchedule, ActionCancel},
		outreach.CampaignScheduled: {ActionSend, ActionPause, ActionCancel},
		outreach.CampaignRunning:   {ActionSend, ActionPause, ActionCancel},
		outreach.CampaignPaused:    {ActionResume, ActionCancel},
		outreach.CampaignCompleted: {ActionSend},
		outreach.CampaignCanceled:  nil,
	}
	for status, want := range allowed {
		var got []Action
		for _, a := range Actions {
			if Can(a, outreach.Campaign{Status: status}) {
				got = append(got, a)
			}
		}
		require.Equal(t, want, got, status)
	}
}

func TestNextFirings(t *testing.T) {
	from := time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC)
	got, err := NextFirings("30 2 * * *", "Europe/Berlin", from, 3)
	require.NoError(t, err)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	require.Equal(t, []time.Time{
		time.Date(2026, 3, 28, 2, 30, 0, 0, berlin).UTC(),
		time.Date(2026, 3, 29, 3, 0, 0, 0, berlin).UTC(), // 02:30 does not exist that night: once, at the jump
		time.Date(2026, 3, 30, 2, 30, 0, 0, berlin).UTC(),
	}, got)
	_, err = NextFirings("61 * * * *", "UTC", from, 5)
	require.Error(t, err)
}
