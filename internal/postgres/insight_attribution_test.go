package postgres

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// TestEffectiveKey: an event without a last delivery's tier is attributed
// by the domain's rule; with an unknown assigned tier to that key as
// given, never to the preference alone.
func TestEffectiveKey(t *testing.T) {
	t.Parallel()
	tiers := map[string]outreach.Tier{"low": {Key: "low", Rank: 10}, "high": {Key: "high", Rank: 30}}
	require.Equal(t, "low", effectiveKey("high", "low", tiers), "the customer asked for less")
	require.Equal(t, "low", effectiveKey("low", "high", tiers), "never for more")
	require.Equal(t, "high", effectiveKey("high", "", tiers))
	require.Equal(t, "high", effectiveKey("high", "gone", tiers), "an unknown preference is ignored")
	require.Equal(t, "gone", effectiveKey("gone", "low", tiers), "no tier in force: the assigned key as a label")
	require.Equal(t, "gone", effectiveKey("gone", "", tiers))
}
