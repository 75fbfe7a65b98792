package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/postgres"
)

// TestCheckRetention: rapport refuses to start with a DELIVERY_RETENTION
// shorter than a tier's windows, naming the tier and the field.
func TestCheckRetention(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	tiers := postgres.DefaultTiers() // the longest: low's target interval, 90d
	require.NoError(t, checkRetention(tiers, 400*day))
	require.NoError(t, checkRetention(tiers, 90*day))
	err := checkRetention(tiers, 60*day)
	require.ErrorContains(t, err, "DELIVERY_RETENTION: 60d is shorter than tier low's target_interval")
	require.NotContains(t, err.Error(), "tier high")
}
