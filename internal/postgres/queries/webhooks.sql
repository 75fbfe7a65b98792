-- Outbound webhooks (internal/webhook; jobs.WebhookDispatchWorker).

-- name: WebhookEndpointInsert :one
INSERT INTO webhook_endpoints (url, events, secret_sealed, description, created_by, created_at, updated_at)
VALUES (@url, @events, @secret_sealed, @description, @created_by, @now::timestamptz, @now::timestamptz)
RETURNING *;

-- name: WebhookEndpointList :many
SELECT * FROM webhook_endpoints WHERE id > @after_id ORDER BY id LIMIT @lim;

-- name: WebhookEndpointGet :one
SELECT * FROM webhook_endpoints WHERE id = @id;

-- name: WebhookEndpointGetForUpdate :one
SELECT * FROM webhook_endpoints WHERE id = @id FOR UPDATE;

-- name: WebhookEndpointUpdate :one
UPDATE webhook_endpoints SET url = @url, events = @events, description = @description,
    disabled_at = sqlc.narg(disabled_at), disabled_reason = @disabled_reason,
    failing_since = sqlc.narg(failing_since), updated_at = @now::timestamptz
WHERE id = @id RETURNING *;

-- name: WebhookEndpointDelete :execrows
DELETE FROM webhook_endpoints WHERE id = @id;

-- name: WebhookEmit :exec
-- Writes an event into the outbox with one message per enabled endpoint
-- subscribed to its type, in the caller's transaction; nothing at all when
-- no endpoint subscribes.
WITH subs AS (
    SELECT id FROM webhook_endpoints WHERE disabled_at IS NULL AND @type::text = ANY(events)
), ev AS (
    INSERT INTO webhook_events (event_id, type, contact_id, payload, created_at)
    SELECT @event_id, @type, sqlc.narg(contact_id), @payload, @now::timestamptz
    WHERE EXISTS (SELECT 1 FROM subs)
    RETURNING id
)
INSERT INTO webhook_messages (endpoint_id, event_pk, order_key, next_at, created_at)
SELECT subs.id, ev.id, @order_key, @now::timestamptz, @now::timestamptz FROM subs, ev;

-- name: WebhookSubscribedTypes :many
-- The event types some enabled endpoint takes, so the send path builds no
-- payloads nobody wants.
SELECT DISTINCT unnest(events)::text AS type FROM webhook_endpoints WHERE disabled_at IS NULL;

-- name: WebhookDue :many
-- The head of each (endpoint, contact) stream of pending messages, when it
-- is due: a message never overtakes an older one of the same stream.
SELECT h.id, h.endpoint_id, h.attempts, e.url, e.secret_sealed, e.failing_since, ev.event_id, ev.type, ev.payload, ev.created_at AS event_at
FROM (
    SELECT DISTINCT ON (m.endpoint_id, m.order_key) m.id, m.endpoint_id, m.event_pk, m.attempts, m.next_at
    FROM webhook_messages m
    WHERE m.state = 'pending'
    ORDER BY m.endpoint_id, m.order_key, m.id
) h
JOIN webhook_endpoints e ON e.id = h.endpoint_id
JOIN webhook_events ev ON ev.id = h.event_pk
WHERE e.disabled_at IS NULL AND h.next_at <= @now::timestamptz
ORDER BY h.next_at, h.id
LIMIT @lim;

-- name: WebhookAttemptInsert :exec
INSERT INTO webhook_attempts (endpoint_id, message_id, attempt, at, status_code, latency_ms, error)
VALUES (@endpoint_id, @message_id, @attempt, @now::timestamptz, @status_code, @latency_ms, @error);

-- name: WebhookMessageDone :exec
UPDATE webhook_messages SET state = @state, attempts = @attempts, next_at = @next_at,
    delivered_at = sqlc.narg(delivered_at)
WHERE id = @id AND state = 'pending';

-- name: WebhookEndpointHealth :exec
-- After an attempt: a success clears failing_since, a failure sets it
-- (once); disabled_at and its reason when the endpoint failed too long.
UPDATE webhook_endpoints SET failing_since = sqlc.narg(failing_since), disabled_at = sqlc.narg(disabled_at),
    disabled_reason = @disabled_reason, updated_at = @now::timestamptz
WHERE id = @id;

-- name: WebhookAttemptList :many
SELECT a.id, a.message_id, a.attempt, a.at, a.status_code, a.latency_ms, a.error, ev.event_id, ev.type
FROM webhook_attempts a
JOIN webhook_messages m ON m.id = a.message_id
JOIN webhook_events ev ON ev.id = m.event_pk
WHERE a.endpoint_id = @endpoint_id AND a.id < @before_id
ORDER BY a.id DESC LIMIT @lim;

-- name: WebhookEventsErase :exec
-- Erasure: the outbox's events about a contact (by id, or by address for
-- those written before the contact existed) go, with their messages.
DELETE FROM webhook_events
WHERE contact_id = sqlc.narg(contact_id) OR (contact_id IS NULL AND payload->'data'->>'email' = @email::text);

-- name: WebhookPrune :execrows
-- Retention: events older than the cutoff none of whose messages is still
-- pending go, with their messages and attempts.
DELETE FROM webhook_events ev
WHERE ev.id IN (
    SELECT e.id FROM webhook_events e
    WHERE e.created_at < @before::timestamptz
      AND NOT EXISTS (SELECT 1 FROM webhook_messages m WHERE m.event_pk = e.id AND m.state = 'pending')
    ORDER BY e.created_at LIMIT @lim
);

-- name: WebhookErasedScrub :exec
-- An erasure event keeps the CRM's external id only until every endpoint
-- has it (or gave up): then it is cleared like the rest of the contact.
UPDATE webhook_events e SET payload = jsonb_set(e.payload, '{data,external_id}', 'null'::jsonb)
WHERE e.id = (SELECT m.event_pk FROM webhook_messages m WHERE m.id = @message_id) AND e.type = 'contact.erased'
  AND NOT EXISTS (SELECT 1 FROM webhook_messages p WHERE p.event_pk = e.id AND p.state = 'pending');
