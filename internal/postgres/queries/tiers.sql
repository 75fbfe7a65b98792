-- name: TierList :many
SELECT * FROM tiers ORDER BY rank, key;

-- name: TierGet :one
SELECT * FROM tiers WHERE key = $1;

-- name: TierInsert :one
INSERT INTO tiers (key, name, description, rank, selectable, rule, version, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 1, @now, @now)
ON CONFLICT (key) DO NOTHING
RETURNING *;

-- name: TierGetForUpdate :one
SELECT * FROM tiers WHERE key = $1 FOR UPDATE;

-- name: TierUpdate :one
UPDATE tiers SET name = @name, description = @description, rank = @rank, selectable = @selectable,
                 rule = @rule, version = version + 1, updated_at = @now
WHERE key = @key
RETURNING *;

-- name: TierCreate :one
INSERT INTO tiers (key, name, description, rank, selectable, rule, version, created_at, updated_at)
VALUES (@key, @name, @description, @rank, @selectable, @rule, 1, @now, @now)
RETURNING *;

-- name: AuditForEntity :many
SELECT * FROM audit_log
WHERE entity = @entity AND entity_id = @entity_id AND id < @before_id
ORDER BY id DESC
LIMIT @lim;
