-- name: IdempotencyClaim :one
-- Claims a key for this request; when the key exists the caller gets the
-- earlier record instead (a concurrent twin waits on the unique index until
-- the first commits).
INSERT INTO idempotency_keys (api_key_id, idem_key, route, request_hash, resource_id, run_id, created_at)
VALUES (@api_key_id, @idem_key, @route, @request_hash, 0, NULL, @now)
ON CONFLICT (api_key_id, idem_key) DO NOTHING
RETURNING api_key_id;

-- name: IdempotencyGet :one
SELECT * FROM idempotency_keys WHERE api_key_id = @api_key_id AND idem_key = @idem_key;

-- name: IdempotencySetResult :exec
UPDATE idempotency_keys SET resource_id = @resource_id, run_id = @run_id
WHERE api_key_id = @api_key_id AND idem_key = @idem_key;

-- name: ContactGetForUpdate :one
SELECT * FROM contacts WHERE id = $1 FOR UPDATE;

-- name: ContactUpdate :one
UPDATE contacts SET email = @email, external_id = @external_id, name = @name, locale = @locale, timezone = @timezone,
    tier = @tier, preferred_tier = @preferred_tier, topics_opted_out = @topics_opted_out, paused_until = @paused_until,
    attributes = @attributes, updated_at = @now
WHERE id = @id
RETURNING *;

-- name: ContactErase :exec
-- Removes the personal data, keeping the row (deliveries refer to it) under
-- a placeholder address that can never be mailed, with the status that
-- keeps it from ever being mailed or changed again.
UPDATE contacts SET email = 'erased-' || id::text || '@erased.invalid', external_id = NULL, name = '',
    locale = 'en', timezone = '', preferred_tier = NULL, topics_opted_out = '{}', paused_until = NULL,
    attributes = '{}', status = 'erased', updated_at = @now
WHERE id = @id;

-- name: DeliveriesErase :exec
-- Erasure keeps a contact's deliveries as decisions (ids, campaigns,
-- states, reasons, times) and drops what could name the contact: the
-- server's replies kept with failures, bounces and unknowns, and any rule
-- holding the address or the name. Deliveries still scheduled are skipped.
-- (SET sees the row as it was, so every CASE reads the old state.)
UPDATE deliveries SET
    state = CASE WHEN state = 'scheduled' THEN 'skipped' ELSE state END,
    reason = CASE WHEN state = 'scheduled' THEN 'unsubscribed' ELSE reason END,
    rule = CASE WHEN state IN ('scheduled', 'failed', 'unknown') OR smtp_code IS NOT NULL
                     OR strpos(lower(rule), lower(@email::text)) > 0
                     OR (@name::text <> '' AND strpos(lower(rule), lower(@name::text)) > 0)
                THEN '' ELSE rule END,
    updated_at = @now
WHERE contact_id = @contact_id AND state <> 'sending';

-- name: SuppressionErase :exec
-- Keeps an erased address suppressed by its hash alone.
INSERT INTO suppressions (email_hash, email, reason, created_at)
VALUES (@email_hash, NULL, 'erased', @now::timestamptz)
ON CONFLICT (email_hash) DO UPDATE SET email = NULL;

-- name: AuditScrub :exec
-- Erasure also removes the address from the audit log: entries keyed by
-- it lose the key, and entries about the contact or holding the address
-- anywhere lose their details. Who did what, and when, stays.
UPDATE audit_log SET entity_id = CASE WHEN entity = 'suppression' AND entity_id = @email::text THEN 'erased' ELSE entity_id END,
    before = NULL, after = NULL
WHERE (entity = 'suppression' AND entity_id = @email::text)
   OR (entity = 'contact' AND entity_id = @contact_id::text)
   OR strpos(lower(coalesce(before::text, '') || coalesce(after::text, '')), lower(@email::text)) > 0;

-- name: ContactEventsScrub :exec
DELETE FROM contact_events WHERE contact_id = @contact_id;

-- name: TopicCreate :one
INSERT INTO topics (key, name, created_at) VALUES (@key, @name, @now) RETURNING *;

-- name: CampaignUpdate :one
UPDATE campaigns SET name = @name, topic = @topic, category = @category, priority = @priority, content = @content,
    variants = @variants, audience = @audience, send_at = @send_at, cron = @cron, timezone = @timezone,
    expires_after_seconds = @expires_after_seconds, updated_at = @now
WHERE id = @id AND status = 'draft'
RETURNING *;

-- name: CampaignStats :many
-- recent counts the messages sent since @since: the send rate.
SELECT tier, state, reason, count(*)::bigint AS n,
       count(*) FILTER (WHERE sent_at > @since::timestamptz)::bigint AS recent
FROM deliveries
WHERE campaign_id = @campaign_id GROUP BY tier, state, reason ORDER BY tier, state, reason;

-- name: DeliveryList :many
SELECT id, run_id, campaign_id, contact_id, tier, state, reason, rule, planned_for, attempts, message_id, sent_at, created_at, updated_at
FROM deliveries
WHERE id > @after_id
  AND (sqlc.narg(campaign_id)::bigint IS NULL OR campaign_id = sqlc.narg(campaign_id))
  AND (sqlc.narg(contact_id)::bigint IS NULL OR contact_id = sqlc.narg(contact_id))
  AND (sqlc.narg(state)::text IS NULL OR state = sqlc.narg(state))
  AND (sqlc.narg(reason)::text IS NULL OR reason = sqlc.narg(reason))
ORDER BY id
LIMIT @lim;

-- name: KeyList :many
SELECT * FROM api_keys WHERE id > @after_id ORDER BY id LIMIT @lim;

-- name: KeyGetForUpdate :one
SELECT * FROM api_keys WHERE id = $1 FOR UPDATE;

-- name: KeyRevoke :exec
UPDATE api_keys SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL;

-- name: AdminKeysLive :one
SELECT count(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL;

-- name: AuditList :many
SELECT * FROM audit_log
WHERE id < @before_id
  AND (sqlc.narg(entity)::text IS NULL OR entity = sqlc.narg(entity))
  AND (sqlc.narg(entity_id)::text IS NULL OR entity_id = sqlc.narg(entity_id))
  AND (sqlc.narg(actor)::text IS NULL OR actor = sqlc.narg(actor))
  AND (sqlc.narg(action)::text IS NULL OR action = sqlc.narg(action))
  AND (sqlc.narg(since)::timestamptz IS NULL OR created_at >= sqlc.narg(since))
  AND (sqlc.narg(until)::timestamptz IS NULL OR created_at < sqlc.narg(until))
ORDER BY id DESC
LIMIT @lim;

-- name: KeysLock :exec
-- Serializes key revocations so two of them cannot both pass the
-- last-admin check.
SELECT pg_advisory_xact_lock(7240312);
