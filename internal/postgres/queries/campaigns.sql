-- name: CampaignInsert :one
INSERT INTO campaigns (name, topic, category, priority, content, variants, audience,
                       send_at, cron, timezone, expires_after_seconds, status, created_by, created_at, updated_at)
VALUES (@name, @topic, @category, @priority, @content, @variants, @audience,
        @send_at, @cron, @timezone, @expires_after_seconds, 'draft', @created_by, @now, @now)
RETURNING *;

-- name: CampaignGet :one
SELECT * FROM campaigns WHERE id = $1;

-- name: CampaignGetForUpdate :one
SELECT * FROM campaigns WHERE id = $1 FOR UPDATE;

-- name: CampaignSetStatus :one
UPDATE campaigns SET status = @status, updated_at = @now WHERE id = @id RETURNING *;

-- name: RunInsert :one
INSERT INTO campaign_runs (campaign_id, fire_at, expires_at, status, created_at, updated_at)
VALUES (@campaign_id, @fire_at, @expires_at, 'planning', @now, @now)
ON CONFLICT (campaign_id, fire_at) DO NOTHING
RETURNING *;

-- name: RunGet :one
SELECT * FROM campaign_runs WHERE id = $1;

-- name: RunSetStatus :exec
UPDATE campaign_runs SET status = @status, updated_at = @now WHERE id = @id;

-- name: CampaignSetNextFire :exec
UPDATE campaigns SET next_fire_at = @next_fire_at, updated_at = @now WHERE id = @id;
