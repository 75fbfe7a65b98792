package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// TestLateWordAfterUnknown: a send job's retry marks unknown what its
// first attempt claimed, thinking it dead; the attempt was only frozen and
// comes back with the server's answers. A sent or failed answer is
// recorded over the unknown, through both of the send path's statements
// (RecordAndClaim, RecordOutcomes in a transaction); an answer that would
// send the delivery again leaves it unknown, and so does silence; so does
// an unknown that is not the retry's (a connection lost after DATA, the
// attempt's own answer) or one erased since (its rule cleared).
func TestLateWordAfterUnknown(t *testing.T) {
	t.Parallel()
	f := newClaimFixture(t, 0)
	ctx := context.Background()
	ids := f.deliveries(t, 7)
	const job = 7
	marked, err := f.store.RecordAndClaim(ctx, nil, ids, job, "inst", "example.com")
	require.NoError(t, err)
	require.ElementsMatch(t, ids, marked)
	n, err := f.store.MarkUnknown(ctx, ids, job)
	require.NoError(t, err)
	require.Equal(t, len(ids), n, "the retry marks them all unknown")
	require.Equal(t, postgres.RetriedRule, f.rule(t, ids[0]))
	_, err = f.pool.Exec(ctx, `UPDATE deliveries SET rule = '' WHERE id = $1`, ids[5]) // as erasure does
	require.NoError(t, err)
	_, err = f.pool.Exec(ctx, `UPDATE deliveries SET rule = 'connection lost after DATA' WHERE id = $1`, ids[6])
	require.NoError(t, err)

	late := []postgres.Outcome{
		{ID: ids[0], State: outreach.DeliverySent, Reason: outreach.ReasonSent, Code: 250},
		{ID: ids[2], State: outreach.DeliveryScheduled, At: time.Date(2026, 12, 3, 9, 5, 0, 0, time.UTC), Code: 451},
		{ID: ids[5], State: outreach.DeliverySent, Reason: outreach.ReasonSent, Code: 250},
		{ID: ids[6], State: outreach.DeliverySent, Reason: outreach.ReasonSent, Code: 250},
	}
	_, err = f.store.RecordAndClaim(ctx, late, nil, job, "inst", "example.com")
	require.NoError(t, err)
	require.NoError(t, f.store.InTx(ctx, func(tx *postgres.Tx) error {
		return tx.RecordOutcomes(ctx, []postgres.Outcome{
			{ID: ids[1], State: outreach.DeliveryFailed, Reason: outreach.ReasonFailedPermanent, Code: 550},
			{ID: ids[3], State: outreach.DeliveryScheduled, At: time.Date(2026, 12, 3, 9, 5, 0, 0, time.UTC), Refund: true},
		})
	}))

	type row struct {
		State, Reason string
		Sent          bool
		Code          int32
	}
	got := map[int64]row{}
	rows, err := f.pool.Query(ctx, `SELECT id, state, reason, sent_at IS NOT NULL, coalesce(smtp_code, 0) FROM deliveries WHERE id = ANY($1)`, ids)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		var r row
		require.NoError(t, rows.Scan(&id, &r.State, &r.Reason, &r.Sent, &r.Code))
		got[id] = r
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[int64]row{
		ids[0]: {"sent", "sent", true, 250},
		ids[1]: {"failed", "failed_permanent", false, 550},
		ids[2]: {"unknown", "unknown", false, 0},
		ids[3]: {"unknown", "unknown", false, 0},
		ids[4]: {"unknown", "unknown", false, 0},
		ids[5]: {"unknown", "unknown", false, 0},
		ids[6]: {"unknown", "unknown", false, 0},
	}, got)

	// Recorded, the answer is final: a second word changes nothing.
	_, err = f.store.RecordAndClaim(ctx, []postgres.Outcome{{ID: ids[0], State: outreach.DeliveryFailed, Reason: outreach.ReasonFailedPermanent, Code: 550}},
		nil, job, "inst", "example.com")
	require.NoError(t, err)
	require.Equal(t, "sent:7:1", f.owners(t, ids[:1])[ids[0]])
}

// rule is delivery id's rule.
func (f *claimFixture) rule(t *testing.T, id int64) string {
	t.Helper()
	var r string
	require.NoError(t, f.pool.QueryRow(context.Background(), "SELECT rule FROM deliveries WHERE id = $1", id).Scan(&r))
	return r
}

// TestRecordOutcomesEmitsOnce: a chunk's outcomes written twice (a
// recovery after a commit whose answer was lost) emit their events once,
// and an outcome for a delivery that is not the writer's to record (not
// claimed) emits none.
func TestRecordOutcomesEmitsOnce(t *testing.T) {
	t.Parallel()
	f := newClaimFixture(t, 0)
	ctx := context.Background()
	_, err := f.store.CreateWebhookEndpoint(ctx, "test", postgres.WebhookEndpoint{URL: "https://hooks.example.com/rapport",
		Events: []string{postgres.EventDeliverySent}, SecretSealed: []byte("sealed")})
	require.NoError(t, err)
	ids := f.deliveries(t, 3)
	_, err = f.store.RecordAndClaim(ctx, nil, ids[:2], 9, "inst", "example.com")
	require.NoError(t, err)
	outs := sent(ids) // ids[2] was never claimed
	for range 2 {
		require.NoError(t, f.store.InTx(ctx, func(tx *postgres.Tx) error { return tx.RecordOutcomes(ctx, outs) }))
	}
	rows, err := f.pool.Query(ctx, `SELECT (payload->'data'->>'delivery_id')::bigint FROM webhook_events WHERE type = 'delivery.sent' ORDER BY 1`)
	require.NoError(t, err)
	events, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	require.Equal(t, ids[:2], events, "one event per delivery recorded")
	require.Equal(t, "scheduled:-:0", f.owners(t, ids[2:])[ids[2]])
}
