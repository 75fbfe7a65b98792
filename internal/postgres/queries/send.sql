-- name: SendLoad :many
-- The deliveries of a send job that may still need work, with what is needed
-- to check and render them.
SELECT d.id, d.run_id, d.campaign_id, d.contact_id, d.marketing, d.priority, d.tier, d.state,
       d.planned_for, d.expires_at, d.attempts, d.send_job_id, c.email
FROM deliveries d JOIN contacts c ON c.id = d.contact_id
WHERE d.id = ANY(@ids::bigint[]) AND d.state IN ('scheduled', 'sending')
ORDER BY d.contact_id, d.planned_for, d.id;

-- name: LockContacts :many
-- Row locks on a batch's contacts, always in id order (no deadlocks). Held
-- by the send job until its messages are handed over and recorded, so an
-- unsubscribe either commits first (and is seen) or waits.
SELECT * FROM contacts WHERE id = ANY(@ids::bigint[]) ORDER BY id FOR UPDATE;

-- name: SentHistory :many
-- What was really sent (or may have been) to these contacts lately.
SELECT contact_id, coalesce(sent_at, planned_for)::timestamptz AS at
FROM deliveries
WHERE contact_id = ANY(@contact_ids::bigint[]) AND marketing
  AND state IN ('sending', 'sent', 'unknown')
  AND coalesce(sent_at, planned_for) > @since::timestamptz;

-- name: MarkUnknown :many
-- A retried job finding deliveries it claimed still 'sending' cannot know
-- whether the server accepted them: never resend.
UPDATE deliveries SET state = 'unknown', reason = 'unknown', updated_at = @now
WHERE id = ANY(@ids::bigint[]) AND state = 'sending' AND send_job_id = @job_id
RETURNING id;

-- name: MarkSending :many
-- Message-IDs are derived from the delivery id (see jobs), so the SQL can
-- build them and a resend would show up as a duplicate Message-ID. A
-- campaign paused or canceled since the batch's check claims nothing more:
-- its deliveries stay scheduled, held for resume (or skipped by cancel).
UPDATE deliveries d SET state = 'sending', attempts = attempts + 1, send_job_id = @job_id,
       message_id = 'rapport.' || d.id::text || '.' || d.campaign_id::text || '@' || @domain::text,
       updated_at = @now
FROM campaigns c
WHERE d.id = ANY(@ids::bigint[]) AND d.state = 'scheduled'
  AND c.id = d.campaign_id AND c.status NOT IN ('paused', 'canceled')
RETURNING d.id;

-- name: MarkSent :exec
UPDATE deliveries SET state = 'sent', reason = 'sent', rule = '', sent_at = @now::timestamptz, updated_at = @now::timestamptz
WHERE id = ANY(@ids::bigint[]) AND state = 'sending';

-- name: TouchLastSent :exec
UPDATE contacts SET last_sent_at = @now::timestamptz WHERE id = ANY(@ids::bigint[]);

-- name: MarkRetry :exec
UPDATE deliveries SET state = 'scheduled', planned_for = @planned_for, updated_at = @now
WHERE id = @id AND state = 'sending';

-- name: MarkTerminal :exec
-- Ends a delivery that is scheduled or sending with a terminal state and reason.
UPDATE deliveries SET state = @state, reason = @reason, rule = @rule, updated_at = @now
WHERE id = @id AND state IN ('scheduled', 'sending');

-- name: SuppressionUpsert :exec
INSERT INTO suppressions (email_hash, email, reason, created_at)
VALUES (@email_hash, @email, @reason, @now::timestamptz)
ON CONFLICT (email_hash) DO NOTHING;

-- name: ContactSetStatus :exec
UPDATE contacts SET status = @status, updated_at = @now::timestamptz WHERE id = @id;

-- name: CampaignsByIDs :many
SELECT * FROM campaigns WHERE id = ANY(@ids::bigint[]);

-- name: ContactCapHistory :many
-- One contact's deliveries counting against caps, except one: for
-- re-planning a delivery that failed its send-time check.
SELECT id, coalesce(sent_at, planned_for)::timestamptz AS at, priority, state
FROM deliveries
WHERE contact_id = @contact_id AND marketing AND id <> @except_id
  AND state IN ('scheduled', 'sending', 'sent', 'unknown')
  AND coalesce(sent_at, planned_for) > @since::timestamptz;

-- name: QueueDepth :many
-- Jobs waiting or running per queue, for the queue-depth gauge.
SELECT queue, state::text AS state, count(*)::bigint AS n
FROM river_job
WHERE state IN ('available', 'scheduled', 'running', 'retryable')
GROUP BY queue, state;

-- name: MarkUnsent :exec
-- A claimed delivery whose connection failed before the server had it goes
-- back to 'scheduled' without the attempt counting against it.
UPDATE deliveries SET state = 'scheduled', attempts = greatest(attempts - 1, 0), planned_for = @planned_for, updated_at = @now
WHERE id = @id AND state = 'sending';
