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
INSERT INTO campaign_runs (campaign_id, fire_at, expires_at, status, shards_pending, created_at, updated_at)
VALUES (@campaign_id, @fire_at, @expires_at, 'planning', @shards, @now, @now)
ON CONFLICT (campaign_id, fire_at) DO NOTHING
RETURNING *;

-- name: RunGet :one
SELECT * FROM campaign_runs WHERE id = $1;

-- name: CampaignSetNextFire :exec
UPDATE campaigns SET next_fire_at = @next_fire_at, updated_at = @now WHERE id = @id;

-- name: CampaignUpdateSchedule :one
UPDATE campaigns SET status = @status, send_at = @send_at, next_fire_at = @next_fire_at, updated_at = @now
WHERE id = @id RETURNING *;

-- name: CampaignsDue :many
-- Recurring campaigns whose next firing has come. SKIP LOCKED lets several
-- schedulers run without waiting on each other; the unique (campaign,
-- fire_at) run makes each firing happen once regardless.
SELECT * FROM campaigns
WHERE status = 'scheduled' AND cron <> '' AND next_fire_at <= @now::timestamptz
ORDER BY next_fire_at
LIMIT 100
FOR UPDATE SKIP LOCKED;

-- name: CampaignCancelDeliveries :execrows
UPDATE deliveries SET state = 'skipped', reason = 'canceled', rule = '', updated_at = @now
WHERE campaign_id = @campaign_id AND state = 'scheduled';

-- name: RunsCancel :exec
UPDATE campaign_runs SET status = 'canceled', updated_at = @now
WHERE campaign_id = @campaign_id AND status IN ('planning', 'planned');

-- name: HeldDeliveries :many
-- A paused campaign's held deliveries, for re-planning on resume.
SELECT id, contact_id, expires_at FROM deliveries
WHERE campaign_id = @campaign_id AND state = 'scheduled' AND id > @after_id
ORDER BY id
LIMIT @lim;

-- name: CampaignList :many
SELECT * FROM campaigns
WHERE id > @after_id AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
ORDER BY id LIMIT @lim;

-- name: CampaignsComplete :many
-- One-off campaigns whose every run is planned and every delivery has
-- reached a terminal state are completed.
UPDATE campaigns c SET status = 'completed', updated_at = @now
WHERE c.status = 'running' AND c.cron = ''
  AND NOT EXISTS (SELECT 1 FROM campaign_runs r WHERE r.campaign_id = c.id AND r.status = 'planning')
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id AND d.state IN ('scheduled', 'sending'))
RETURNING c.id;

-- name: CampaignPendingDelivery :many
-- One delivery of a campaign still to send, newest first: while a run
-- sends, its newest deliveries are the ones left, so the answer comes from
-- the first index entries read.
SELECT id FROM deliveries
WHERE campaign_id = @id AND state IN ('scheduled', 'sending')
ORDER BY id DESC LIMIT 1;

-- name: CampaignComplete :many
-- CampaignsComplete for one campaign.
UPDATE campaigns c SET status = 'completed', updated_at = @now
WHERE c.id = @id AND c.status = 'running' AND c.cron = ''
  AND NOT EXISTS (SELECT 1 FROM campaign_runs r WHERE r.campaign_id = c.id AND r.status = 'planning')
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id AND d.state IN ('scheduled', 'sending'))
RETURNING c.id;
