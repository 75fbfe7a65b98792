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
-- All contacts, or the active ones (nearly all), by the primary key;
-- Store.Contacts sends tiers and other statuses to their own queries.
SELECT * FROM contacts
WHERE id > @after_id
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
ORDER BY id
LIMIT @lim;

-- name: ContactEventInsert :exec
INSERT INTO contact_events (contact_id, kind, detail, actor, created_at)
VALUES (@contact_id, @kind, @detail, @actor, @now);

-- name: Timeline :many
-- A contact's deliveries (with their campaign's name) and preference
-- events, newest first, with keyset paging on (at, kind, id).
SELECT * FROM (
    SELECT 'delivery'::text AS kind, d.id, d.campaign_id, coalesce(c.name, '')::text AS campaign_name, d.state, d.reason,
           d.rule, d.planned_for, d.sent_at, d.created_at AS at, ''::text AS event, '{}'::jsonb AS detail, ''::text AS actor
    FROM deliveries d LEFT JOIN campaigns c ON c.id = d.campaign_id WHERE d.contact_id = @contact_id
    UNION ALL
    SELECT 'event'::text, e.id, 0::bigint, ''::text, ''::text, ''::text, ''::text, e.created_at,
           NULL::timestamptz, e.created_at, e.kind, e.detail, e.actor
    FROM contact_events e WHERE e.contact_id = @contact_id
) t
WHERE (t.at, t.kind, t.id) < (@before_at::timestamptz, @before_kind::text, @before_id::bigint)
ORDER BY t.at DESC, t.kind DESC, t.id DESC
LIMIT @lim;

-- name: OverdueContacts :many
-- Active contacts past their effective tier's target_interval since the
-- last marketing message (or since they were added, if never written to),
-- among ids in (after_id, through_id], optionally of one assigned tier. The
-- caller passes, per tier with a target, its key, rank and the cutoff
-- moment (now - target); the effective tier is the preferred one when its
-- rank is lower. Per-row array lookups; the last message comes from
-- contact_last_sent, bounded by the same ids so that PostgreSQL can walk
-- both primary keys side by side (a merge join: about 30% less than one
-- lookup per contact over a long stretch). The scan is the cost, and
-- through_id bounds it.
SELECT c.* FROM contacts c
LEFT JOIN contact_last_sent ls ON ls.contact_id = c.id AND ls.contact_id > @after_id AND ls.contact_id <= @through_id
WHERE c.id > @after_id AND c.id <= @through_id AND c.status = 'active'
  AND (sqlc.narg(tier)::text IS NULL OR c.tier = sqlc.narg(tier))
  AND coalesce(ls.last_sent_at, c.created_at) < (CASE
      WHEN coalesce((@ranks::int[])[array_position(@keys::text[], c.preferred_tier)]
                    < (@ranks::int[])[array_position(@keys::text[], c.tier)], false)
      THEN (@cutoffs::timestamptz[])[array_position(@keys::text[], c.preferred_tier)]
      ELSE (@cutoffs::timestamptz[])[array_position(@keys::text[], c.tier)] END)
ORDER BY c.id
LIMIT @lim;
