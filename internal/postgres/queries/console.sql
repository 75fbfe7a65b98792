-- name: CampaignCountByStatus :many
SELECT status, count(*)::bigint AS n FROM campaigns GROUP BY status ORDER BY status;

-- name: SuppressionListNewest :many
SELECT id, email, reason, created_at FROM suppressions
WHERE id < @before_id ORDER BY id DESC LIMIT @lim;

-- name: SuppressionByHash :one
SELECT id, email, reason, created_at FROM suppressions WHERE email_hash = $1;

-- name: KeyByID :one
SELECT * FROM api_keys WHERE id = $1;
