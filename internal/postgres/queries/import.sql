-- name: ImportContactsBatch :one
-- Upserts one batch of imported contacts by email in a single statement.
-- Rows arrive as parallel arrays (one element per row, validated by the
-- caller; emails and non-empty external ids are distinct within a batch).
-- Columns the file did not have (set_* false) keep their stored values on
-- update; attr_keys are the file's attr.<key> columns, replaced key by key.
-- An update that would change nothing is skipped (no write, updated_at
-- kept), so re-running a file reports unchanged rows. Rows whose
-- external_id belongs to another contact are left out and their lines
-- returned, so one bad row never fails the batch.
WITH raw AS (
    -- Set-returning functions in one select list advance together, so this
    -- zips the arrays (which all have one element per row).
    SELECT unnest(@lines::bigint[]) AS line, unnest(@emails::text[]) AS email,
           unnest(@external_ids::text[]) AS external_id, unnest(@names::text[]) AS name,
           unnest(@locales::text[]) AS locale, unnest(@timezones::text[]) AS timezone,
           unnest(@tiers::text[]) AS tier, unnest(@preferred_tiers::text[]) AS preferred_tier,
           unnest(@topics::text[]) AS topics, unnest(@paused_until::text[]) AS paused_until,
           unnest(@attributes::text[]) AS attributes
),
input AS (
    SELECT r.line, r.email, nullif(r.external_id, '') AS external_id, r.name, r.locale, r.timezone, r.tier,
           nullif(r.preferred_tier, '') AS preferred_tier,
           (SELECT coalesce(array_agg(DISTINCT t ORDER BY t), '{}') FROM unnest(string_to_array(r.topics, ';')) t) AS topics_opted_out,
           nullif(r.paused_until, '')::timestamptz AS paused_until, r.attributes::jsonb AS attributes
    FROM raw r
),
taken AS (
    SELECT i.line FROM input i
    JOIN contacts c ON c.external_id = i.external_id AND c.email <> i.email
    WHERE @set_external_id::boolean
),
upserted AS (
    INSERT INTO contacts AS c (email, external_id, name, locale, timezone, tier, preferred_tier,
                               topics_opted_out, paused_until, attributes, created_at, updated_at)
    SELECT i.email, i.external_id, i.name, i.locale, i.timezone, i.tier, i.preferred_tier,
           i.topics_opted_out, i.paused_until, i.attributes, @now, @now
    FROM input i
    WHERE i.line NOT IN (SELECT line FROM taken)
    ON CONFLICT (email) DO UPDATE SET
        external_id      = CASE WHEN @set_external_id THEN EXCLUDED.external_id ELSE c.external_id END,
        name             = CASE WHEN @set_name::boolean THEN EXCLUDED.name ELSE c.name END,
        locale           = CASE WHEN @set_locale::boolean THEN EXCLUDED.locale ELSE c.locale END,
        timezone         = CASE WHEN @set_timezone::boolean THEN EXCLUDED.timezone ELSE c.timezone END,
        tier             = EXCLUDED.tier,
        -- What a customer chose for themselves is never undone by a file:
        -- their preferred tier stays, opt-outs are only added, a pause only
        -- lengthened.
        preferred_tier   = CASE WHEN @set_preferred_tier::boolean THEN coalesce(c.preferred_tier, EXCLUDED.preferred_tier) ELSE c.preferred_tier END,
        topics_opted_out = CASE WHEN @set_topics::boolean
                                THEN coalesce((SELECT array_agg(DISTINCT t ORDER BY t) FROM unnest(c.topics_opted_out || EXCLUDED.topics_opted_out) t), '{}')
                                ELSE c.topics_opted_out END,
        paused_until     = CASE WHEN @set_paused_until::boolean THEN greatest(c.paused_until, EXCLUDED.paused_until) ELSE c.paused_until END,
        attributes       = (c.attributes - @attr_keys::text[]) || EXCLUDED.attributes,
        updated_at       = EXCLUDED.updated_at
    WHERE (c.external_id, c.name, c.locale, c.timezone, c.tier, c.preferred_tier,
           c.topics_opted_out, c.paused_until, c.attributes)
          IS DISTINCT FROM
          (CASE WHEN @set_external_id THEN EXCLUDED.external_id ELSE c.external_id END,
           CASE WHEN @set_name THEN EXCLUDED.name ELSE c.name END,
           CASE WHEN @set_locale THEN EXCLUDED.locale ELSE c.locale END,
           CASE WHEN @set_timezone THEN EXCLUDED.timezone ELSE c.timezone END,
           EXCLUDED.tier,
           CASE WHEN @set_preferred_tier THEN coalesce(c.preferred_tier, EXCLUDED.preferred_tier) ELSE c.preferred_tier END,
           CASE WHEN @set_topics
                THEN coalesce((SELECT array_agg(DISTINCT t ORDER BY t) FROM unnest(c.topics_opted_out || EXCLUDED.topics_opted_out) t), '{}')
                ELSE c.topics_opted_out END,
           CASE WHEN @set_paused_until THEN greatest(c.paused_until, EXCLUDED.paused_until) ELSE c.paused_until END,
           (c.attributes - @attr_keys) || EXCLUDED.attributes)
    RETURNING (xmax = 0)::boolean AS inserted
)
SELECT (SELECT count(*) FROM upserted u WHERE u.inserted)::bigint AS created,
       (SELECT count(*) FROM upserted u WHERE NOT u.inserted)::bigint AS updated,
       (SELECT coalesce(array_agg(t.line ORDER BY t.line), '{}') FROM taken t)::bigint[] AS taken_lines;
