-- name: ContactUpsert :one
-- Insert or update by email; (xmax = 0) tells a fresh insert from an update.
INSERT INTO contacts (email, external_id, name, locale, timezone, tier, preferred_tier,
                      topics_opted_out, paused_until, attributes, created_at, updated_at)
VALUES (@email, @external_id, @name, @locale, @timezone, @tier, @preferred_tier,
        @topics_opted_out, @paused_until, @attributes, @now, @now)
ON CONFLICT (email) DO UPDATE SET
    external_id = EXCLUDED.external_id,
    name = EXCLUDED.name,
    locale = EXCLUDED.locale,
    timezone = EXCLUDED.timezone,
    tier = EXCLUDED.tier,
    preferred_tier = EXCLUDED.preferred_tier,
    topics_opted_out = EXCLUDED.topics_opted_out,
    paused_until = EXCLUDED.paused_until,
    attributes = EXCLUDED.attributes,
    updated_at = EXCLUDED.updated_at
RETURNING sqlc.embed(contacts), (xmax = 0)::boolean AS inserted;

-- name: ContactGet :one
SELECT * FROM contacts WHERE id = $1;

-- name: ContactList :many
SELECT * FROM contacts
WHERE id > @after_id
  AND (sqlc.narg(tier)::text IS NULL OR tier = sqlc.narg(tier))
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
ORDER BY id
LIMIT @lim;

-- name: ContactsByIDs :many
SELECT * FROM contacts WHERE id = ANY(@ids::bigint[]) ORDER BY id;

-- name: ContactEventInsert :exec
INSERT INTO contact_events (contact_id, kind, detail, actor, created_at)
VALUES (@contact_id, @kind, @detail, @actor, @now);
