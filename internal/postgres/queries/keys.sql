-- name: KeyInsert :one
INSERT INTO api_keys (name, role, prefix, secret_hash, created_at)
VALUES (@name, @role, @prefix, @secret_hash, @now)
RETURNING *;

-- name: KeyByPrefix :one
SELECT * FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL;

-- name: KeyTouch :exec
-- Recorded at most once a minute per key so auth does not write on every call.
UPDATE api_keys SET last_used_at = @now::timestamptz
WHERE id = @id AND (last_used_at IS NULL OR last_used_at < @stale_before::timestamptz);

-- name: KeyCount :one
SELECT count(*) FROM api_keys WHERE revoked_at IS NULL;
