package api

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAuthFailuresWindow: 20 failures within a minute block an address
// until the oldest of them is a minute old; other addresses are free.
func TestAuthFailuresWindow(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f := newAuthFailures(func() time.Time { return now })
	for i := range maxAuthFailures {
		_, blocked := f.blocked("a")
		require.False(t, blocked, "after %d failures", i)
		f.fail("a")
		now = now.Add(time.Second)
	}
	wait, blocked := f.blocked("a")
	require.True(t, blocked)
	require.Equal(t, 40*time.Second, wait, "the first failure leaves the window 60 s after it")
	_, blocked = f.blocked("b")
	require.False(t, blocked)
	now = now.Add(wait)
	_, blocked = f.blocked("a")
	require.False(t, blocked, "the oldest failure has left the window")
	now = now.Add(time.Hour)
	_, blocked = f.blocked("a")
	require.False(t, blocked)
	require.Empty(t, f.seen, "forgotten once nothing is left in the window")
}
