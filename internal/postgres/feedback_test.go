package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// TestInstallationID: made once per database and kept, the same for every
// process that asks at once, different for another database.
func TestInstallationID(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := s.InstallationID(ctx)
			require.NoError(t, err)
			ids[i] = id
		}()
	}
	wg.Wait()
	require.Regexp(t, `^[a-z2-7]{8}$`, ids[0])
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
	other, _ := newStore(t)
	id2, err := other.InstallationID(ctx)
	require.NoError(t, err)
	require.NotEqual(t, ids[0], id2, "another installation has another id")
}

// TestRecordFeedback: hard bounces suppress at once and mark the
// delivery; soft bounces suppress at the limit; a report seen before
// changes nothing; a bad kind or address is refused.
func TestRecordFeedback(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	ada := contact(t, s, "ada@example.com")
	bob := contact(t, s, "bob@example.com")

	r, err := s.RecordFeedback(ctx, postgres.Feedback{Kind: postgres.FeedbackHardBounce, Source: "dsn", EventID: "e1",
		Email: ada.Email, Detail: "5.1.1"}, 3, 30*24*time.Hour)
	require.NoError(t, err)
	require.Equal(t, outreach.SuppressBounce, r.Suppressed)
	tr := trailOf(t, pool, s, ada)
	require.Equal(t, "hard_bounce", tr.suppression)
	require.Equal(t, string(outreach.StatusBounced), tr.status)
	require.Equal(t, []string{"dsn"}, tr.events)

	r, err = s.RecordFeedback(ctx, postgres.Feedback{Kind: postgres.FeedbackHardBounce, Source: "dsn", EventID: "e1",
		Email: ada.Email}, 3, 30*24*time.Hour)
	require.NoError(t, err)
	require.True(t, r.Duplicate)
	require.Equal(t, tr, trailOf(t, pool, s, ada), "a retry writes nothing")

	for i, id := range []string{"s1", "s2"} {
		r, err = s.RecordFeedback(ctx, postgres.Feedback{Kind: postgres.FeedbackSoftBounce, Source: "ses", EventID: id,
			Email: bob.Email}, 3, 30*24*time.Hour)
		require.NoError(t, err)
		require.Equal(t, i+1, r.SoftCount)
		require.Empty(t, r.Suppressed)
	}
	require.Equal(t, "active", trailOf(t, pool, s, bob).status)
	r, err = s.RecordFeedback(ctx, postgres.Feedback{Kind: postgres.FeedbackSoftBounce, Source: "ses", EventID: "s3",
		Email: bob.Email}, 3, 30*24*time.Hour)
	require.NoError(t, err)
	require.Equal(t, 3, r.SoftCount)
	require.Equal(t, outreach.SuppressBounce, r.Suppressed, "the third soft bounce suppresses")

	for _, f := range []postgres.Feedback{
		{Kind: "delivered", Source: "ses", Email: "cy@example.com"},
		{Kind: postgres.FeedbackComplaint, Source: "ses", Email: "not an address"},
	} {
		_, err = s.RecordFeedback(ctx, f, 3, time.Hour)
		require.Error(t, err)
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM suppressions WHERE email = 'cy@example.com'`).Scan(&n))
	require.Zero(t, n)
}
