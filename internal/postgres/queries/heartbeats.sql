-- Worker heartbeats (internal/heartbeat). These use the database's clock
-- on purpose: hosts' clocks drift, and a heartbeat is compared across hosts.

-- name: HeartbeatBeat :exec
INSERT INTO worker_heartbeats (client_id, host, pid, started_at, beat_at)
VALUES (@client_id, @host, @pid, now(), now())
ON CONFLICT (client_id) DO UPDATE SET beat_at = now();

-- name: HeartbeatForget :exec
DELETE FROM worker_heartbeats WHERE client_id = @client_id;

-- name: HeartbeatPrune :exec
DELETE FROM worker_heartbeats WHERE beat_at < now() - interval '1 day';

-- name: RescueLock :one
-- One sweeper at a time, cluster-wide, for the transaction.
SELECT pg_try_advisory_xact_lock(7240312)::boolean AS locked;

-- name: OrphanedJobs :many
-- Running River jobs whose current attempt belongs to a client that has
-- not beaten for @stale_seconds (or never did), started at least that long
-- ago. A restarted process has a new client id, so it never vouches for its
-- predecessor's jobs.
SELECT j.id, j.attempt, j.max_attempts, j.attempted_by[array_upper(j.attempted_by, 1)]::text AS client_id
FROM river_job j
WHERE j.state = 'running'
  AND j.attempted_at < now() - make_interval(secs => @stale_seconds::float8)
  AND NOT EXISTS (
      SELECT 1 FROM worker_heartbeats h
      WHERE h.client_id = j.attempted_by[array_upper(j.attempted_by, 1)]
        AND h.beat_at > now() - make_interval(secs => @stale_seconds::float8))
ORDER BY j.id
LIMIT @lim;
