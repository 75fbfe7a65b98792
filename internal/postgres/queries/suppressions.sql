-- name: SuppressionList :many
SELECT id, email, reason, created_at FROM suppressions
WHERE id > @after_id ORDER BY id LIMIT @lim;

-- name: SuppressionAdd :one
-- Adds or re-labels a suppression; (xmax = 0) tells a new one.
INSERT INTO suppressions (email_hash, email, reason, created_at)
VALUES (@email_hash, @email, @reason, @now::timestamptz)
ON CONFLICT (email_hash) DO UPDATE SET reason = EXCLUDED.reason, email = coalesce(suppressions.email, EXCLUDED.email)
RETURNING id, (xmax = 0)::boolean AS inserted;

-- name: SuppressionDelete :one
DELETE FROM suppressions WHERE email_hash = @email_hash RETURNING reason;

-- name: ContactByEmailForUpdate :one
SELECT * FROM contacts WHERE email = $1 FOR UPDATE;

-- name: ContactSoftBounce :one
-- Counts a soft bounce, restarting the count when the last one is older
-- than the window.
UPDATE contacts
SET soft_bounces = CASE WHEN soft_bounced_at IS NULL OR soft_bounced_at < @window_start::timestamptz THEN 1 ELSE soft_bounces + 1 END,
    soft_bounced_at = @now::timestamptz, updated_at = @now::timestamptz
WHERE id = @id
RETURNING soft_bounces;

-- name: SuppressionInsert :exec
-- Adds a suppression unless the address has one (whatever its reason).
INSERT INTO suppressions (email_hash, email, reason, created_at)
VALUES (@email_hash, @email, @reason, @now::timestamptz)
ON CONFLICT (email_hash) DO NOTHING;
