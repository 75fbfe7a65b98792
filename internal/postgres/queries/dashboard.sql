-- The console dashboard's aggregates. deliveries and contact_events have
-- no index on time (deliveries keeps its indexes off the columns sending
-- changes, so those updates stay HOT), but both are append-only with ids
-- that grow with created_at: the store bisects the primary key for the
-- first id of a period (the *Bounds and *At queries, a few index probes)
-- and the aggregates read only the rows from there, so their cost follows
-- the recent volume, not the table's size.

-- name: DashboardDeliveryBounds :one
SELECT coalesce(min(id), 0)::bigint AS lo, coalesce(max(id), 0)::bigint AS hi FROM deliveries;

-- name: DashboardDeliveryAt :one
-- The first delivery at or after an id, for bisecting by created_at.
SELECT id, created_at FROM deliveries WHERE id >= @from_id ORDER BY id LIMIT 1;

-- name: DashboardEventBounds :one
SELECT coalesce(min(id), 0)::bigint AS lo, coalesce(max(id), 0)::bigint AS hi FROM contact_events;

-- name: DashboardEventAt :one
SELECT id, created_at FROM contact_events WHERE id >= @from_id ORDER BY id LIMIT 1;

-- name: DashboardTune :exec
-- For the dashboard's read-only transaction: its aggregates read a few
-- million rows into a few hundred groups, which JIT compiling only slows
-- down, and sort or hash in memory.
SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true);

-- name: DashboardDeliveries :many
-- One pass over the deliveries from from_id on, for two figures: marketing
-- messages sent per UTC day and tier (the effective tier they were planned
-- under; reason 'sent'), and deliveries waiting now because the cadence
-- deferred them, by reason and tier, with the latest moment one is planned
-- for (their day is since, unused).
SELECT tier, reason,
       (CASE WHEN state = 'sent' THEN date_bin('1 day', sent_at, @since::timestamptz) ELSE @since::timestamptz END)::timestamptz AS day,
       count(*)::bigint AS n, max(planned_for)::timestamptz AS latest
FROM deliveries
WHERE id >= @from_id
  AND ((marketing AND state = 'sent' AND sent_at >= @since::timestamptz AND sent_at < @until::timestamptz)
       OR (state = 'scheduled' AND reason IN ('deferred_cap', 'deferred_min_gap', 'deferred_send_window')))
GROUP BY 1, 2, 3;

-- name: DashboardOverdue :many
-- Active contacts past their effective tier's target interval, counted by
-- that tier: the same rules, cutoffs and test as OverdueContacts.
WITH rules AS (
    SELECT unnest(@keys::text[]) AS tier_key, unnest(@ranks::int[]) AS tier_rank,
           unnest(@cutoffs::timestamptz[]) AS cutoff
)
SELECT (CASE WHEN p.tier_key IS NOT NULL AND p.tier_rank < a.tier_rank THEN p.tier_key ELSE a.tier_key END)::text AS tier,
       count(*)::bigint AS n
FROM contacts c
JOIN rules a ON a.tier_key = c.tier
LEFT JOIN rules p ON p.tier_key = c.preferred_tier
LEFT JOIN contact_last_sent ls ON ls.contact_id = c.id
WHERE c.status = 'active'
  AND coalesce(ls.last_sent_at, c.created_at) <
      (CASE WHEN p.tier_key IS NOT NULL AND p.tier_rank < a.tier_rank THEN p.cutoff ELSE a.cutoff END)
GROUP BY 1;

-- name: DashboardOptOuts :many
-- Unsubscribes (the customer's own, and unsubscribe suppressions) and
-- complaints since a moment, by the contact's assigned tier, among the
-- contact events from from_id on.
SELECT c.tier,
       count(*) FILTER (WHERE e.kind = 'unsubscribed' OR e.detail->>'reason' = 'unsubscribe')::bigint AS unsubscribes,
       count(*) FILTER (WHERE e.kind = 'suppressed' AND e.detail->>'reason' = 'complaint')::bigint AS complaints
FROM contact_events e
JOIN contacts c ON c.id = e.contact_id
WHERE e.id >= @from_id AND e.created_at >= @since::timestamptz
  AND (e.kind = 'unsubscribed' OR (e.kind = 'suppressed' AND e.detail->>'reason' IN ('unsubscribe', 'complaint')))
GROUP BY c.tier;
