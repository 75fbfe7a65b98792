-- name: SendLoad :many
-- The deliveries of a send job that may still need work, with what is needed
-- to check and render them.
SELECT d.id, d.run_id, d.campaign_id, d.contact_id, d.marketing, d.priority, d.tier, d.state,
       d.planned_for, d.expires_at, d.attempts, d.send_job_id, c.email
FROM deliveries d JOIN contacts c ON c.id = d.contact_id
WHERE d.id = ANY(@ids::bigint[]) AND d.state IN ('scheduled', 'sending')
ORDER BY d.contact_id, d.planned_for, d.id;

-- name: SendRecheck :many
-- SendLoad's deliveries again, read after their contacts were locked, for
-- the send-time check: the deliveries alone, since the locked contacts
-- carry the addresses.
SELECT d.id, d.run_id, d.campaign_id, d.contact_id, d.marketing, d.priority, d.tier, d.state,
       d.planned_for, d.expires_at, d.attempts, d.send_job_id
FROM deliveries d
WHERE d.id = ANY(@ids::bigint[]) AND d.state IN ('scheduled', 'sending')
ORDER BY d.contact_id, d.planned_for, d.id;

-- name: LockContacts :many
-- Row locks on a batch's contacts, always in id order (no deadlocks). Held
-- by the send job until its messages are handed over and recorded, so an
-- unsubscribe either commits first (and is seen) or waits.
SELECT * FROM contacts WHERE id = ANY(@ids::bigint[]) ORDER BY id FOR UPDATE;

-- name: SentHistory :many
-- What was really sent (or may have been) to these contacts lately. The
-- history_at bound (00013) keeps the read to each contact's recent rows.
SELECT contact_id, coalesce(sent_at, planned_for)::timestamptz AS at
FROM deliveries
WHERE contact_id = ANY(@contact_ids::bigint[])
  AND history_at > @history_from::timestamptz
  AND marketing
  AND state IN ('sending', 'sent', 'unknown')
  AND coalesce(sent_at, planned_for) > @since::timestamptz;

-- name: MarkUnknown :many
-- A retried job finding deliveries it claimed still 'sending' cannot know
-- whether the server accepted them: never resend. @rule marks them as
-- this statement's, for RecordOutcomes' late word (erasure clears it).
UPDATE deliveries SET state = 'unknown', reason = 'unknown', rule = @rule::text, updated_at = @now
WHERE id = ANY(@ids::bigint[]) AND state = 'sending' AND send_job_id = @job_id
RETURNING id;

-- name: MarkSending :many
-- Message-IDs are derived from the delivery id (see mailer.MessageID), so the SQL can
-- build them and a resend would show up as a duplicate Message-ID. A
-- campaign paused or canceled since the batch's check claims nothing more:
-- its deliveries stay scheduled, held for resume (or skipped by cancel).
UPDATE deliveries d SET state = 'sending', attempts = attempts + 1, send_job_id = @job_id,
       message_id = 'rapport.' || d.id::text || '.' || d.campaign_id::text || '.' || @installation::text || '@' || @domain::text,
       updated_at = @now
FROM campaigns c
WHERE d.id = ANY(@ids::bigint[]) AND d.state = 'scheduled'
  AND c.id = d.campaign_id AND c.status NOT IN ('paused', 'canceled')
RETURNING d.id;

-- name: TouchLastSent :exec
-- The contacts' last marketing message is now (ids distinct: ON CONFLICT
-- may not change a row twice).
INSERT INTO contact_last_sent (contact_id, last_sent_at)
SELECT unnest(@ids::bigint[]), @now::timestamptz
ON CONFLICT (contact_id) DO UPDATE SET last_sent_at = excluded.last_sent_at;

-- name: ContactSetStatus :exec
UPDATE contacts SET status = @status, updated_at = @now::timestamptz WHERE id = @id;

-- name: CampaignsByIDs :many
SELECT * FROM campaigns WHERE id = ANY(@ids::bigint[]);

-- name: ContactCapHistory :many
-- One contact's deliveries counting against caps, except one: for
-- re-planning a delivery that failed its send-time check. Bounded by
-- history_at as SentHistory.
SELECT id, coalesce(sent_at, planned_for)::timestamptz AS at, priority, state
FROM deliveries
WHERE contact_id = @contact_id
  AND history_at > @history_from::timestamptz
  AND marketing AND id <> @except_id
  AND state IN ('scheduled', 'sending', 'sent', 'unknown')
  AND coalesce(sent_at, planned_for) > @since::timestamptz;

-- name: RecordOutcomes :many
-- Records what the server said about a chunk of claimed ('sending')
-- deliveries, in one statement: each row's next state as decided by
-- sendcheck.Next. A delivery going back to 'scheduled' (a retry, or a
-- message that never reached the server) keeps its reason and rule; a
-- terminal one takes the new ones; only 'sent' sets sent_at. The late
-- word: a delivery a job's retry marked unknown (MarkUnknown, whose rule
-- @retried_rule is; the attempt that claimed it seemed dead, but was only
-- frozen or slow) takes that attempt's final answer when it comes, sent
-- or failed — only that attempt can have sent it, and unknown is never
-- sent again, so the answer is the truth. An answer that would send it
-- again (a 4xx, a connection that failed before DATA) leaves it unknown:
-- its job has been retried without it, and the campaign may have ended.
UPDATE deliveries d
SET state = u.state,
    reason = CASE WHEN u.state = 'scheduled' THEN d.reason ELSE u.reason END,
    rule = CASE WHEN u.state = 'scheduled' THEN d.rule ELSE u.rule END,
    planned_for = u.planned_for,
    attempts = greatest(d.attempts + u.attempts_delta, 0),
    sent_at = CASE WHEN u.state = 'sent' THEN @now::timestamptz ELSE d.sent_at END,
    smtp_code = nullif(u.smtp_code, 0),
    updated_at = @now::timestamptz
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@states::text[]) AS state, unnest(@reasons::text[]) AS reason,
             unnest(@rules::text[]) AS rule, unnest(@planned::timestamptz[]) AS planned_for,
             unnest(@attempts_delta::int[]) AS attempts_delta, unnest(@codes::int[]) AS smtp_code) AS u
WHERE d.id = u.id
  AND (d.state = 'sending' OR (d.state = 'unknown' AND d.rule = @retried_rule::text AND u.state IN ('sent', 'failed')))
RETURNING d.id; -- the rows it changed: only theirs get events (a chunk written twice is emitted once)

-- name: EndDeliveries :exec
-- Ends scheduled deliveries that must never go (the send-time check, an
-- expiry on re-planning), each with its state, reason and rule.
UPDATE deliveries d SET state = u.state, reason = u.reason, rule = u.rule, updated_at = @now::timestamptz
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@states::text[]) AS state, unnest(@reasons::text[]) AS reason,
             unnest(@rules::text[]) AS rule) AS u
WHERE d.id = u.id AND d.state = 'scheduled';

-- name: BouncedUnsuppressed :many
-- Deliveries a send job recorded as refused for good (a 5xx) whose address
-- is not suppressed yet: the job died between recording the chunk and
-- suppressing the address at its end, and its retry finishes the job.
SELECT d.id, c.email FROM deliveries d JOIN contacts c ON c.id = d.contact_id
WHERE d.id = ANY(@ids::bigint[]) AND d.send_job_id = @job_id AND d.state = 'failed' AND d.smtp_code >= 500
  AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email_hash = sha256(convert_to(c.email, 'UTF8')));

-- name: LostDeliveriesLock :exec
-- One sweep for lost deliveries at a time: a second one waits, then
-- sees the first one's jobs and finds nothing to do.
SELECT pg_advisory_xact_lock(7240313);

-- name: LostDeliveries :many
-- Scheduled deliveries whose moment passed before @before and that no live
-- send_batch job carries (the job was deleted, cancelled or discarded):
-- without a new job they would wait forever. Only campaigns that can still
-- send are looked at (their deliveries found through the campaign index);
-- a paused campaign's deliveries are held on purpose. The oldest @scan
-- overdue deliveries are examined (a long throttle queue is all carried by
-- snoozed jobs, and is not rescanned whole every run), each against River's
-- args index; at most @lim are returned.
WITH overdue AS (
    SELECT d.id, d.planned_for FROM deliveries d
    JOIN campaigns c ON c.id = d.campaign_id
    WHERE c.status IN ('running', 'scheduled') AND d.state = 'scheduled' AND d.planned_for < @before::timestamptz
    ORDER BY d.planned_for, d.id
    LIMIT @scan
)
SELECT o.id FROM overdue o
WHERE NOT EXISTS (
    SELECT 1 FROM river_job j
    WHERE j.args @> jsonb_build_object('delivery_ids', jsonb_build_array(o.id))
      AND j.kind = 'send_batch'
      AND j.state IN ('available', 'scheduled', 'running', 'retryable', 'pending'))
ORDER BY o.planned_for, o.id
LIMIT @lim;

-- name: RecordAndClaim :many
-- RecordOutcomes for chunks sent and MarkSending for the next ones, of one
-- send job or of several at once (Store.RecordAndClaim merges the calls
-- that meet), in one statement and so one commit: the send path's commit
-- per chunk in a single round trip, shared by the jobs that commit at the
-- same moment. Each claimed delivery names its job (@claim_jobs, parallel
-- to @claim_ids), and no id appears twice across the arrays, so that every
-- row is changed at most once and each claim is returned to its own job.
-- The two updates touch different deliveries (the recorded ones are
-- 'sending' or 'unknown', the claimed ones 'scheduled'); a data-modifying
-- WITH runs to completion whether or not it is read.
WITH recorded AS (
    UPDATE deliveries d
    SET state = u.state,
        reason = CASE WHEN u.state = 'scheduled' THEN d.reason ELSE u.reason END,
        rule = CASE WHEN u.state = 'scheduled' THEN d.rule ELSE u.rule END,
        planned_for = u.planned_for,
        attempts = greatest(d.attempts + u.attempts_delta, 0),
        sent_at = CASE WHEN u.state = 'sent' THEN @now::timestamptz ELSE d.sent_at END,
        smtp_code = nullif(u.smtp_code, 0),
        updated_at = @now::timestamptz
    FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@states::text[]) AS state, unnest(@reasons::text[]) AS reason,
                 unnest(@rules::text[]) AS rule, unnest(@planned::timestamptz[]) AS planned_for,
                 unnest(@attempts_delta::int[]) AS attempts_delta, unnest(@codes::int[]) AS smtp_code) AS u
    WHERE d.id = u.id
      AND (d.state = 'sending' OR (d.state = 'unknown' AND d.rule = @retried_rule::text AND u.state IN ('sent', 'failed'))) -- RecordOutcomes' late word
    RETURNING d.id
)
UPDATE deliveries d SET state = 'sending', attempts = attempts + 1, send_job_id = cl.job_id,
       message_id = 'rapport.' || d.id::text || '.' || d.campaign_id::text || '.' || @installation::text || '@' || @domain::text,
       updated_at = @now::timestamptz
FROM campaigns c, (SELECT unnest(@claim_ids::bigint[]) AS id, unnest(@claim_jobs::bigint[]) AS job_id) AS cl
WHERE d.id = cl.id AND d.state = 'scheduled'
  AND c.id = d.campaign_id AND c.status NOT IN ('paused', 'canceled')
RETURNING d.id, d.send_job_id;
