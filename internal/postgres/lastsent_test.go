package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
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

// TestLastSentMigration: migration 00015 carries each contact's last-sent
// time out of the contact row and, rolled back, into it again; contacts
// never sent to stay without one either way. It rolls back the newest
// migration, so it must move when a later one lands.
func TestLastSentMigration(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	s := postgres.NewStore(pool, fixedClock{time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)})
	require.NoError(t, s.Seed(ctx))
	var ids [3]int64
	for i, email := range []string{"ada@example.com", "bob@example.com", "cy@example.com"} {
		c, _, err := s.UpsertContact(ctx, "test", outreach.Contact{Email: email, Tier: "high"})
		require.NoError(t, err)
		ids[i] = c.ID
	}
	at := time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC)
	_, err := pool.Exec(ctx, "INSERT INTO contact_last_sent (contact_id, last_sent_at) VALUES ($1, $2), ($3, $4)",
		ids[0], at, ids[1], at.Add(time.Hour))
	require.NoError(t, err)

	log := slog.New(slog.DiscardHandler)
	require.NoError(t, postgres.MigrateDown(ctx, pool, false, log))
	got := map[int64]*time.Time{}
	rows, err := pool.Query(ctx, "SELECT id, last_sent_at FROM contacts")
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		var ts *time.Time
		require.NoError(t, rows.Scan(&id, &ts))
		got[id] = ts
	}
	require.NoError(t, rows.Err())
	require.True(t, got[ids[0]].Equal(at))
	require.True(t, got[ids[1]].Equal(at.Add(time.Hour)))
	require.Nil(t, got[ids[2]])

	require.NoError(t, postgres.Migrate(ctx, pool, log))
	sent, err := s.LastSent(ctx, []outreach.Contact{{ID: ids[0]}, {ID: ids[1]}, {ID: ids[2]}})
	require.NoError(t, err)
	require.Len(t, sent, 2)
	require.True(t, sent[ids[0]].Equal(at))
	require.True(t, sent[ids[1]].Equal(at.Add(time.Hour)))

	// The old column stays for the previous release's processes, and
	// sending no longer writes it.
	later := at.Add(48 * time.Hour)
	s2 := postgres.NewStore(pool, fixedClock{later})
	require.NoError(t, s2.InTx(ctx, func(tx *postgres.Tx) error { return tx.TouchLastSent(ctx, ids[:]) }))
	var old *time.Time
	require.NoError(t, pool.QueryRow(ctx, "SELECT last_sent_at FROM contacts WHERE id = $1", ids[2]).Scan(&old))
	require.Nil(t, old)
	sent, err = s.LastSent(ctx, []outreach.Contact{{ID: ids[2]}})
	require.NoError(t, err)
	require.True(t, sent[ids[2]].Equal(later))
}
