-- name: SettingGet :one
SELECT value FROM settings WHERE key = @key;

-- name: SettingInit :one
-- Sets a setting once; the value already there wins.
INSERT INTO settings (key, value, created_at) VALUES (@key, @value, @now::timestamptz)
ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
RETURNING value;

-- name: InboundEventClaim :one
-- Records an inbound report once; a repeat (a provider's retry) finds no
-- row to return.
INSERT INTO inbound_events (source, event_id, kind, received_at) VALUES (@source, @event_id, @kind, @now::timestamptz)
ON CONFLICT (source, event_id) DO NOTHING
RETURNING source;

-- name: DeliveryRecipient :one
-- A delivery and the address it went to.
SELECT d.id, d.campaign_id, d.contact_id, d.state, c.email
FROM deliveries d JOIN contacts c ON c.id = d.contact_id
WHERE d.id = @id;

-- name: DeliveryFeedback :many
-- Records a delivery's fate; a complaint or hard bounce already recorded
-- stays. Returns the contact when the row changed.
UPDATE deliveries SET feedback = @feedback, feedback_at = @now::timestamptz
WHERE id = @id AND (feedback IS NULL OR feedback = 'soft_bounce')
RETURNING contact_id;
