package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// TestTouchLastSent: the send path's record of when a contact last got
// marketing mail takes an id more than once (two deliveries to one
// contact in a batch), moves forward on the next send, leaves the contact
// row alone, and is what the overdue list reads.
func TestTouchLastSent(t *testing.T) {
	t.Parallel()
	s, clock := userStore(t) // 2026-12-01 10:00 UTC; high aims at every 14 days
	ctx := context.Background()
	require.NoError(t, s.Seed(ctx))
	add := func(email string) outreach.Contact {
		c, _, err := s.UpsertContact(ctx, "test", outreach.Contact{Email: email, Tier: "high"})
		require.NoError(t, err)
		return c
	}
	ada, bob, cy := add("ada@example.com"), add("bob@example.com"), add("cy@example.com")
	touch := func(ids ...int64) {
		require.NoError(t, s.InTx(ctx, func(tx *postgres.Tx) error { return tx.TouchLastSent(ctx, ids) }))
	}
	first := clock.Now()
	touch(bob.ID, ada.ID, bob.ID)
	sent, err := s.LastSent(ctx, []outreach.Contact{ada, bob, cy})
	require.NoError(t, err)
	require.Len(t, sent, 2, "cy was never sent to")
	require.True(t, sent[ada.ID].Equal(first))
	require.True(t, sent[bob.ID].Equal(first))

	clock.Add(20 * 24 * time.Hour)
	touch(ada.ID)
	sent, err = s.LastSent(ctx, []outreach.Contact{ada, bob})
	require.NoError(t, err)
	require.True(t, sent[ada.ID].Equal(clock.Now()), "a later send moves it")
	require.True(t, sent[bob.ID].Equal(first))
	after, err := s.Contact(ctx, ada.ID)
	require.NoError(t, err)
	require.True(t, after.UpdatedAt.Equal(ada.UpdatedAt), "sending is not an edit of the contact")

	// 20 days on, bob (sent 20 days ago) and cy (created 20 days ago,
	// never sent to) are past high's 14 days; ada was sent to just now.
	over, err := s.OverdueContacts(ctx, postgres.OverdueFilter{Limit: 10})
	require.NoError(t, err)
	var emails []string
	for _, c := range over {
		emails = append(emails, c.Email)
	}
	require.ElementsMatch(t, []string{"bob@example.com", "cy@example.com"}, emails)
}
