-- name: AudienceBatch :many
-- The next batch of a run's audience after a contact id, locked in id order so
-- concurrent planners and senders never deadlock and never decide on stale
-- history.
SELECT * FROM contacts
WHERE id > @after_id
  AND (cardinality(@tiers::text[]) = 0 OR tier = ANY(@tiers::text[]))
  AND (cardinality(@topics::text[]) = 0 OR NOT (topics_opted_out && @topics::text[]))
  AND attributes @> @attrs::jsonb
  AND (cardinality(@ids::bigint[]) = 0 OR id = ANY(@ids::bigint[]))
ORDER BY id
LIMIT @lim
FOR UPDATE;

-- name: AudienceBatchNoLock :many
-- The same batch without locks, for forecasts, which write nothing.
SELECT * FROM contacts
WHERE id > @after_id
  AND (cardinality(@tiers::text[]) = 0 OR tier = ANY(@tiers::text[]))
  AND (cardinality(@topics::text[]) = 0 OR NOT (topics_opted_out && @topics::text[]))
  AND attributes @> @attrs::jsonb
  AND (cardinality(@ids::bigint[]) = 0 OR id = ANY(@ids::bigint[]))
ORDER BY id
LIMIT @lim;

-- name: CapHistory :many
-- Marketing deliveries that count against caps for a set of contacts: sent
-- ones at their send time, reserved ones at their planned time.
SELECT id, contact_id, coalesce(sent_at, planned_for)::timestamptz AS at, priority, state, expires_at, run_id
FROM deliveries
WHERE contact_id = ANY(@contact_ids::bigint[])
  AND marketing
  AND state IN ('scheduled', 'sending', 'sent', 'unknown')
  AND coalesce(sent_at, planned_for) > @since::timestamptz
ORDER BY contact_id, 3;

-- name: SuppressedHashes :many
SELECT email_hash, reason FROM suppressions WHERE email_hash = ANY(@hashes::bytea[]);

-- name: DeliveryIDs :many
-- A block of delivery ids for rows about to be COPYed.
SELECT nextval(pg_get_serial_sequence('deliveries', 'id'))::bigint AS id FROM generate_series(1, @n::int);

-- name: RunLastContact :one
-- Where an interrupted planning job resumes.
SELECT coalesce(max(contact_id), 0)::bigint FROM deliveries WHERE run_id = $1;

-- name: DeliveryReplan :exec
UPDATE deliveries SET planned_for = @planned_for, reason = @reason, rule = @rule, updated_at = @now
WHERE id = @id AND state = 'scheduled';

-- name: DeliverySkip :exec
UPDATE deliveries SET state = 'skipped', reason = @reason, rule = @rule, updated_at = @now
WHERE id = @id AND state = 'scheduled';
