-- Send-rate limits (internal/throttle). Times are parameters, never now().

-- name: ThrottleRates :many
SELECT key, per_second, updated_at FROM throttle_rates ORDER BY key;

-- ThrottleLockSettings serialises Puts on the global bucket's row, so two
-- Puts cannot interleave and each audit row's "before" is exact (the rates
-- are read by the next statement, with a snapshot taken after the lock).
-- name: ThrottleLockSettings :exec
SELECT key FROM throttle_buckets WHERE key = 'global' FOR UPDATE;

-- name: ThrottleRatesDeleteExcept :exec
DELETE FROM throttle_rates WHERE NOT (key = ANY(@keep::text[]));

-- name: ThrottleRatesUpsert :exec
INSERT INTO throttle_rates (key, per_second, updated_at)
SELECT u.key, u.per_second, @now
FROM (SELECT unnest(@keys::text[]) AS key, unnest(@rates::float8[]) AS per_second) u
ON CONFLICT (key) DO UPDATE SET per_second = excluded.per_second, updated_at = excluded.updated_at;

-- name: ThrottleBucketsEnsure :exec
INSERT INTO throttle_buckets (key) SELECT unnest(@keys::text[])
ON CONFLICT (key) DO NOTHING;

-- ThrottleLoad locks the buckets of a batch's keys in key order (so two
-- batches never deadlock) and reads their calendars, configured rates and
-- back-offs. FOR UPDATE returns each bucket's latest committed version even
-- when it waited for another reservation.
-- name: ThrottleLoad :many
SELECT b.key, b.full_until, b.full_per_q, b.used, coalesce(r.per_second, 0)::float8 AS per_second,
       b.slowed_per_second, b.slowed_at, b.slowed_until, b.slow_ceiling, b.slow_period_ms
FROM throttle_buckets b
LEFT JOIN throttle_rates r ON r.key = b.key
WHERE b.key = ANY(@keys::text[])
ORDER BY b.key
FOR UPDATE OF b;

-- name: ThrottleSave :exec
UPDATE throttle_buckets b SET full_until = u.full_until, full_per_q = u.full_per_q, used = u.used
FROM (SELECT unnest(@keys::text[]) AS key, unnest(@full_until::bigint[]) AS full_until,
             unnest(@full_per_q::float8[]) AS full_per_q, unnest(@used::bytea[]) AS used) u
WHERE b.key = u.key;

-- ThrottleBackoffLoad locks one domain's bucket for SlowDown and reads what
-- the new back-off is derived from, the global rate included.
-- name: ThrottleBackoffLoad :one
SELECT b.key, coalesce(r.per_second, 0)::float8 AS per_second,
       coalesce((SELECT g.per_second FROM throttle_rates g WHERE g.key = 'global'), 0)::float8 AS global_per_second,
       b.slowed_per_second, b.slowed_at, b.slowed_until, b.slow_ceiling, b.slow_period_ms
FROM throttle_buckets b
LEFT JOIN throttle_rates r ON r.key = b.key
WHERE b.key = @key
FOR UPDATE OF b;

-- name: ThrottleBackoffSave :exec
UPDATE throttle_buckets SET slowed_per_second = @slowed_per_second, slowed_at = @slowed_at,
    slowed_until = @slowed_until, slow_ceiling = @slow_ceiling, slow_period_ms = @slow_period_ms
WHERE key = @key;

-- name: ThrottleBackoffGet :many
SELECT b.key, coalesce(r.per_second, 0)::float8 AS per_second,
       b.slowed_per_second, b.slowed_at, b.slowed_until, b.slow_ceiling, b.slow_period_ms
FROM throttle_buckets b
LEFT JOIN throttle_rates r ON r.key = b.key
WHERE b.key = @key;
