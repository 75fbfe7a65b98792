-- name: TierList :many
SELECT * FROM tiers ORDER BY rank, key;

-- name: TierGet :one
SELECT * FROM tiers WHERE key = $1;

-- name: TierInsert :one
INSERT INTO tiers (key, name, description, rank, selectable, rule, version, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 1, @now, @now)
ON CONFLICT (key) DO NOTHING
RETURNING *;
