-- name: QueueDepthByKind :many
-- Jobs waiting or running per queue, kind and state, for the queue-depth
-- gauge.
SELECT queue, kind, state::text AS state, count(*)::bigint AS n
FROM river_job
WHERE state IN ('available', 'scheduled', 'running', 'retryable')
GROUP BY queue, kind, state;

-- name: RiverLeader :one
-- The River client currently leading the cluster ('' when none).
SELECT coalesce((SELECT leader_id FROM river_leader WHERE name = 'default' AND expires_at > now()), '')::text AS leader_id;
