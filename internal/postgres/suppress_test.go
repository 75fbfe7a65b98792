package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func newStore(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.Pool(t)
	s := postgres.NewStore(pool, fixedClock{time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)})
	require.NoError(t, s.Seed(context.Background()))
	return s, pool
}

func contact(t *testing.T, s *postgres.Store, email string) outreach.Contact {
	t.Helper()
	c, _, err := s.UpsertContact(context.Background(), "test", outreach.Contact{Email: email, Name: "Ada", Tier: "high"})
	require.NoError(t, err)
	return c
}

// trail is what one suppression left behind for an address.
type trail struct {
	suppression string // reason; "" for none
	status      string
	events      []string // kinds of "suppressed" events' actors
	audits      int      // audit entries for the suppression
}

func trailOf(t *testing.T, pool *pgxpool.Pool, s *postgres.Store, c outreach.Contact) trail {
	t.Helper()
	ctx := context.Background()
	var tr trail
	reason, err := s.SuppressionOf(ctx, c.Email)
	require.NoError(t, err)
	tr.suppression = string(reason)
	got, err := s.Contact(ctx, c.ID)
	require.NoError(t, err)
	tr.status = string(got.Status)
	rows, err := pool.Query(ctx, "SELECT actor FROM contact_events WHERE contact_id = $1 AND kind = 'suppressed' ORDER BY id", c.ID)
	require.NoError(t, err)
	for rows.Next() {
		var a string
		require.NoError(t, rows.Scan(&a))
		tr.events = append(tr.events, a)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE entity = 'suppression' AND action = 'suppress' AND entity_id = $1",
		c.Email).Scan(&tr.audits))
	return tr
}

// TestEverySuppressionPathWritesAllFour checks that each way an address
// gets suppressed writes the suppression, the contact's status, a timeline
// event and an audit entry, and that a retry of the same report writes
// nothing twice.
func TestEverySuppressionPathWritesAllFour(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const window = 30 * 24 * time.Hour
	tests := []struct {
		name   string
		do     func(s *postgres.Store, email string) error
		reason string
		status string
		actor  string
	}{
		{"api manual", func(s *postgres.Store, e string) error {
			_, err := s.Suppress(ctx, "key:admin", e, outreach.SuppressManual)
			return err
		}, "manual", "unsubscribed", "key:admin"},
		{"api hard bounce", func(s *postgres.Store, e string) error {
			_, err := s.Suppress(ctx, "key:admin", e, outreach.SuppressBounce)
			return err
		}, "hard_bounce", "bounced", "key:admin"},
		{"webhook hard bounce", func(s *postgres.Store, e string) error {
			_, err := s.BounceEvent(ctx, "hard_bounce", e, 3, window)
			return err
		}, "hard_bounce", "bounced", "webhook"},
		{"webhook complaint", func(s *postgres.Store, e string) error {
			_, err := s.BounceEvent(ctx, "complaint", e, 3, window)
			return err
		}, "complaint", "complained", "webhook"},
		{"soft-bounce limit", func(s *postgres.Store, e string) error {
			for range 3 {
				if _, err := s.BounceEvent(ctx, "soft_bounce", e, 3, window); err != nil {
					return err
				}
			}
			return nil
		}, "hard_bounce", "bounced", "webhook"},
		{"send-time 5xx (in the send batch's transaction)", func(s *postgres.Store, e string) error {
			return s.InTx(ctx, func(tx *postgres.Tx) error {
				_, err := tx.Suppress(ctx, "smtp", e, outreach.SuppressBounce, map[string]any{"delivery_id": 7, "smtp_code": 550})
				return err
			})
		}, "hard_bounce", "bounced", "smtp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, pool := newStore(t)
			c := contact(t, s, "ada@example.com")
			require.NoError(t, tt.do(s, c.Email))
			want := trail{suppression: tt.reason, status: tt.status, events: []string{tt.actor}, audits: 1}
			require.Equal(t, want, trailOf(t, pool, s, c))
			// The provider retries, or a crashed batch's retry repairs: the
			// same report again writes nothing new.
			require.NoError(t, tt.do(s, c.Email))
			require.Equal(t, want, trailOf(t, pool, s, c))
		})
	}
}

// TestSendTimeSuppressionDetail: the timeline says which delivery bounced
// and what the server answered.
func TestSendTimeSuppressionDetail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStore(t)
	c := contact(t, s, "grace@example.com")
	require.NoError(t, s.InTx(ctx, func(tx *postgres.Tx) error {
		_, err := tx.Suppress(ctx, "smtp", c.Email, outreach.SuppressBounce, map[string]any{"delivery_id": 42, "smtp_code": 550})
		return err
	}))
	var raw []byte
	require.NoError(t, pool.QueryRow(ctx, "SELECT detail FROM contact_events WHERE contact_id = $1 AND kind = 'suppressed'", c.ID).Scan(&raw))
	var detail map[string]any
	require.NoError(t, json.Unmarshal(raw, &detail))
	require.Equal(t, map[string]any{"reason": "hard_bounce", "delivery_id": float64(42), "smtp_code": float64(550),
		"before": map[string]any{"status": "active"}, "after": map[string]any{"status": "bounced"}}, detail)
}

// TestEraseSuppressesByHashAlone: erasure goes through the same path but
// keeps no address: the suppression is the hash, the audit entry names no
// one, the timeline is gone, and an earlier suppression keeps its reason.
func TestEraseSuppressesByHashAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newStore(t)
	plain := contact(t, s, "linus@example.com")
	bounced := contact(t, s, "radia@example.com")
	_, err := s.BounceEvent(ctx, "hard_bounce", bounced.Email, 3, time.Hour)
	require.NoError(t, err)
	for _, c := range []outreach.Contact{plain, bounced} {
		require.NoError(t, s.EraseContact(ctx, "key:dpo", c.ID))
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM suppressions WHERE email IS NOT NULL").Scan(&n))
	require.Zero(t, n, "no address kept")
	reasons := map[string]string{}
	for _, c := range []outreach.Contact{plain, bounced} {
		var r string
		require.NoError(t, pool.QueryRow(ctx, "SELECT reason FROM suppressions WHERE email_hash = $1", postgres.EmailHash(c.Email)).Scan(&r))
		reasons[c.Email] = r
		got, err := s.Contact(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, outreach.StatusErased, got.Status)
		require.NotEqual(t, c.Email, got.Email)
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM contact_events WHERE contact_id = $1", c.ID).Scan(&n))
		require.Zero(t, n, "the timeline is erased")
	}
	require.Equal(t, map[string]string{plain.Email: "erased", bounced.Email: "hard_bounce"}, reasons)
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE entity = 'suppression' AND (entity_id LIKE '%@%' OR after::text LIKE '%@%')").Scan(&n))
	require.Zero(t, n, "no audit entry names an erased address")
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE action = 'erase' AND actor = 'key:dpo'").Scan(&n))
	require.Equal(t, 2, n)
	// Erasing again changes nothing.
	require.NoError(t, s.EraseContact(ctx, "key:dpo", plain.ID))
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE action = 'erase'").Scan(&n))
	require.Equal(t, 2, n)
}
