-- name: PruneBatchSpan :one
-- The next stretch of at most @lim deliveries in id order after @after_id:
-- its last id, and whether it holds a delivery created at or after
-- @before (ids grow with created_at, so nothing after it is old enough).
SELECT coalesce(max(id), 0)::bigint AS hi, coalesce(bool_or(created_at >= @before::timestamptz), false)::boolean AS reached
FROM (SELECT id, created_at FROM deliveries WHERE id > @after_id::bigint ORDER BY id LIMIT @lim) b;

-- name: PruneDeliveries :execrows
-- Deletes the final deliveries of a stretch whose history ended before
-- @before. Scheduled and sending ones stay, whatever their age; no contact
-- is locked, and no row a send job touches (scheduled, sending) is
-- deleted, so sending never waits for it.
DELETE FROM deliveries
WHERE id > @after_id::bigint AND id <= @hi_id::bigint
  AND state IN ('sent', 'skipped', 'failed', 'unknown')
  AND history_at < @before::timestamptz;

-- name: InsightDaysThrough :one
-- The last day the insight rollup closed (its sends and pressure final).
SELECT days_through FROM insight_state;
