-- name: TopicList :many
SELECT * FROM topics ORDER BY key;

-- name: TopicInsert :one
INSERT INTO topics (key, name, created_at) VALUES ($1, $2, @now)
ON CONFLICT (key) DO NOTHING
RETURNING *;

-- name: TopicExists :one
SELECT EXISTS (SELECT 1 FROM topics WHERE key = $1);
