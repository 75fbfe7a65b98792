-- name: AudienceBatch :many
-- The next batch of a run's audience after a contact id, locked in id order so
-- concurrent planners and senders never deadlock and never decide on stale
-- history.
SELECT * FROM contacts
WHERE id > @after_id AND id <= @max_id
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
WHERE id > @after_id AND id <= @max_id
  AND (cardinality(@tiers::text[]) = 0 OR tier = ANY(@tiers::text[]))
  AND (cardinality(@topics::text[]) = 0 OR NOT (topics_opted_out && @topics::text[]))
  AND attributes @> @attrs::jsonb
  AND (cardinality(@ids::bigint[]) = 0 OR id = ANY(@ids::bigint[]))
ORDER BY id
LIMIT @lim;

-- name: CapHistory :many
-- Marketing deliveries that count against caps for a set of contacts: sent
-- ones at their send time, reserved ones at their planned time.
-- One range scan of deliveries_history_idx per contact over its recent end
-- (history_at, 00013): what counts since @since has history_at after
-- @history_from = @since - HistorySlack, so older history, however long,
-- is never read.
SELECT id, contact_id, coalesce(sent_at, planned_for)::timestamptz AS at, priority, state, expires_at, run_id, campaign_id
FROM deliveries
WHERE contact_id = ANY(@contact_ids::bigint[])
  AND history_at > @history_from::timestamptz
  AND marketing
  AND state IN ('scheduled', 'sending', 'sent', 'unknown')
  AND coalesce(sent_at, planned_for) > @since::timestamptz
ORDER BY contact_id, 3;

-- name: SuppressedHashes :many
SELECT email_hash, reason FROM suppressions WHERE email_hash = ANY(@hashes::bytea[]);

-- name: DeliveryIDs :many
-- A block of delivery ids for rows about to be COPYed.
-- The sequence is named as a constant: nextval on an expression (say
-- pg_get_serial_sequence) costs seven times as much per row.
SELECT nextval('deliveries_id_seq')::bigint AS id FROM generate_series(1, @n::int);

-- name: RunLastContact :one
-- Where an interrupted planning job resumes within its id range.
SELECT coalesce(max(contact_id), @lo::bigint)::bigint FROM deliveries
WHERE run_id = @run_id AND contact_id > @lo::bigint AND contact_id <= @hi::bigint;

-- name: ContactIDRange :one
SELECT coalesce(min(id), 0)::bigint AS lo, coalesce(max(id), 0)::bigint AS hi FROM contacts;

-- name: RunShardDone :one
-- One planning range is done; the last one marks the run planned.
UPDATE campaign_runs
SET shards_pending = shards_pending - 1,
    status = CASE WHEN shards_pending <= 1 THEN 'planned' ELSE status END,
    updated_at = @now
WHERE id = @id AND status = 'planning'
RETURNING status;

-- name: DeliveriesReplanMany :exec
-- Moves many displaced deliveries in one statement.
UPDATE deliveries AS d
SET planned_for = u.planned_for, reason = u.reason, rule = u.rule, updated_at = @now::timestamptz
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@planned::timestamptz[]) AS planned_for,
             unnest(@reasons::text[]) AS reason, unnest(@rules::text[]) AS rule) AS u
WHERE d.id = u.id AND d.state = 'scheduled';

-- name: CampaignStatusShare :one
-- Read under a share lock so a cancel or pause waits for the batch being
-- planned, then applies to it too.
SELECT status FROM campaigns WHERE id = $1 FOR SHARE;

-- name: DeliveriesStale :one
-- Whether the deliveries table's statistics lag far behind it: rows
-- written since the last ANALYZE more than half the rows it was analyzed
-- with (and at least @min_rows). A first big plan on an empty table
-- leaves the planner thinking deliveries tiny, and the send path's
-- lookups by id and contact turn into sequential scans.
SELECT coalesce(s.n_mod_since_analyze > greatest(c.reltuples, 0) / 2 AND s.n_mod_since_analyze >= @min_rows::bigint, false)::boolean
FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid
WHERE c.oid = 'deliveries'::regclass;

-- name: AnalyzeLock :one
-- One statistics refresh at a time: a planner finding one running skips
-- its own.
SELECT pg_try_advisory_xact_lock(7240314);
