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

-- name: ContactEventInsert :exec
INSERT INTO contact_events (contact_id, kind, detail, actor, created_at)
VALUES (@contact_id, @kind, @detail, @actor, @now);

-- name: Timeline :many
-- A contact's deliveries and preference events, newest first, with keyset
-- paging on (at, kind, id).
SELECT * FROM (
    SELECT 'delivery'::text AS kind, d.id, d.campaign_id, d.state, d.reason, d.rule, d.planned_for,
           d.sent_at, d.created_at AS at, ''::text AS event, '{}'::jsonb AS detail, ''::text AS actor
    FROM deliveries d WHERE d.contact_id = @contact_id
    UNION ALL
    SELECT 'event'::text, e.id, 0::bigint, ''::text, ''::text, ''::text, e.created_at,
           NULL::timestamptz, e.created_at, e.kind, e.detail, e.actor
    FROM contact_events e WHERE e.contact_id = @contact_id
) t
WHERE (t.at, t.kind, t.id) < (@before_at::timestamptz, @before_kind::text, @before_id::bigint)
ORDER BY t.at DESC, t.kind DESC, t.id DESC
LIMIT @lim;

-- name: OverdueContacts :many
-- Contacts past their effective tier's target_interval since the last
-- marketing message (or since they were added, if never written to). The
-- caller passes, per tier, its rank and the cutoff moment (now - target);
-- tiers without a target are left out.
WITH rules AS (
    SELECT unnest(@keys::text[]) AS tier_key, unnest(@ranks::int[]) AS tier_rank,
           unnest(@cutoffs::timestamptz[]) AS cutoff
)
SELECT c.* FROM contacts c
JOIN rules a ON a.tier_key = c.tier
LEFT JOIN rules p ON p.tier_key = c.preferred_tier
WHERE c.id > @after_id AND c.status = 'active'
  AND coalesce(c.last_sent_at, c.created_at) <
      (CASE WHEN p.tier_key IS NOT NULL AND p.tier_rank < a.tier_rank THEN p.cutoff ELSE a.cutoff END)
ORDER BY c.id
LIMIT @lim;
