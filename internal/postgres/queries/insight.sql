-- name: InsightStateLock :one
-- The rollup's watermarks, locked: concurrent rollups (several processes,
-- a re-run) queue here, and each finds the work the other did.
SELECT events_through, days_through FROM insight_state FOR UPDATE;

-- name: InsightStateSet :exec
UPDATE insight_state SET events_through = @events_through, days_through = sqlc.narg(days_through), updated_at = @now;

-- name: InsightFirstActivity :one
-- Where a first rollup starts: the first firing or the first event.
SELECT coalesce(least((SELECT min(fire_at) FROM campaign_runs),
                      (SELECT created_at FROM contact_events ORDER BY id LIMIT 1)), @none::timestamptz)::timestamptz AS first;

-- name: InsightNewEvents :many
-- Timeline events after the watermark that may be negative, with what
-- attribution needs: the tier of the contact's last delivery planned
-- before the event (empty when none) and the last campaign that sent the
-- contact a marketing message in the 7 days before (0 when none). Both
-- are probes of the contact's deliveries index.
SELECT e.id, e.contact_id, e.kind, e.detail, e.created_at, c.tier AS assigned,
       coalesce(c.preferred_tier, '')::text AS preferred,
       coalesce((SELECT d.tier FROM deliveries d WHERE d.contact_id = e.contact_id AND d.created_at <= e.created_at
                 ORDER BY d.created_at DESC, d.id DESC LIMIT 1), '')::text AS last_tier,
       coalesce((SELECT d.campaign_id FROM deliveries d WHERE d.contact_id = e.contact_id AND d.marketing AND d.state = 'sent'
                   AND d.sent_at <= e.created_at AND d.sent_at > e.created_at - interval '7 days'
                   AND d.history_at > e.created_at - interval '8 days'
                 ORDER BY d.sent_at DESC, d.id DESC LIMIT 1), 0)::bigint AS campaign_id
FROM contact_events e JOIN contacts c ON c.id = e.contact_id
WHERE e.id > sqlc.arg(after_id)::bigint AND e.kind IN ('unsubscribed', 'paused', 'suppressed', 'preferences_changed')
ORDER BY e.id
LIMIT @lim;

-- name: InsightEventsSettled :one
-- Where the event watermark may move: just before the first event after
-- it written at or after the cutoff (else the newest event). Events of
-- transactions still open may get lower ids than ones already committed,
-- so the watermark trails the newest events and they are read again
-- (harmless: the ledger's key ignores a second copy).
SELECT coalesce((SELECT min(e.id) - 1 FROM contact_events e WHERE e.id > sqlc.arg(after_id)::bigint AND e.created_at >= sqlc.arg(cutoff)::timestamptz),
                (SELECT max(m.id) FROM contact_events m), 0)::bigint AS settled;

-- name: InsightEventsInsert :many
INSERT INTO insight_events (event_id, kind, n, day, at, contact_id, tier, campaign_id)
SELECT unnest(@event_ids::bigint[]), unnest(@kinds::text[]), unnest(@ns::int[]), unnest(@days::date[]),
       unnest(@ats::timestamptz[]), unnest(@contact_ids::bigint[]), unnest(@tiers::text[]), unnest(@campaign_ids::bigint[])
ON CONFLICT (event_id, kind) DO NOTHING
RETURNING day;

-- name: InsightDailyClear :exec
DELETE FROM insight_daily WHERE day = @day;

-- name: InsightRunsActive :many
-- The runs that can have sent on a day: fired before it ended and not
-- expired before it began (a run without expiry is looked at for
-- @lookback_secs after its firing).
SELECT id FROM campaign_runs
WHERE fire_at < @hi::timestamptz
  AND coalesce(expires_at, fire_at + make_interval(secs => @lookback_secs::double precision)) >= @lo::timestamptz
ORDER BY id;

-- name: InsightDaySends :exec
-- One day's marketing sends, read through the day's active runs (the
-- run_id index), so the deliveries table needs no index on sent_at (its
-- sends stay HOT updates) and a day reads only the deliveries of the runs
-- that were live. Writes the per-contact exposure and the per-tier and
-- campaign sent counts.
WITH s AS MATERIALIZED (
    SELECT d.id, d.contact_id, d.campaign_id, d.tier, d.sent_at
    FROM deliveries d
    WHERE d.run_id = ANY(@run_ids::bigint[])
      AND d.marketing AND d.state = 'sent' AND d.sent_at >= @lo::timestamptz AND d.sent_at < @hi::timestamptz
), exposure AS (
    INSERT INTO insight_contact_sends (day, contact_id, n, tier)
    SELECT @day::date, contact_id, count(*), (array_agg(tier ORDER BY sent_at DESC, id DESC))[1]
    FROM s GROUP BY contact_id
    ON CONFLICT (day, contact_id) DO UPDATE SET n = EXCLUDED.n, tier = EXCLUDED.tier
)
INSERT INTO insight_daily (day, tier, campaign_id, sent)
SELECT @day::date, tier, campaign_id, count(*) FROM s GROUP BY tier, campaign_id;

-- name: InsightDailyEventsReset :exec
UPDATE insight_daily SET unsubscribes = 0, complaints = 0, hard_bounces = 0, downgrades = 0, pauses = 0, topic_opt_outs = 0
WHERE day = @day;

-- name: InsightDailyEvents :exec
-- One day's negative events from the ledger into the daily rollup.
INSERT INTO insight_daily (day, tier, campaign_id, unsubscribes, complaints, hard_bounces, downgrades, pauses, topic_opt_outs)
SELECT e.day, e.tier, e.campaign_id,
       coalesce(sum(e.n) FILTER (WHERE e.kind = 'unsubscribe'), 0), coalesce(sum(e.n) FILTER (WHERE e.kind = 'complaint'), 0),
       coalesce(sum(e.n) FILTER (WHERE e.kind = 'hard_bounce'), 0), coalesce(sum(e.n) FILTER (WHERE e.kind = 'downgrade'), 0),
       coalesce(sum(e.n) FILTER (WHERE e.kind = 'pause'), 0), coalesce(sum(e.n) FILTER (WHERE e.kind = 'topic_opt_out'), 0)
FROM insight_events e WHERE e.day = @on_day::date
GROUP BY e.day, e.tier, e.campaign_id
ON CONFLICT (day, tier, campaign_id) DO UPDATE SET
    unsubscribes = EXCLUDED.unsubscribes, complaints = EXCLUDED.complaints, hard_bounces = EXCLUDED.hard_bounces,
    downgrades = EXCLUDED.downgrades, pauses = EXCLUDED.pauses, topic_opt_outs = EXCLUDED.topic_opt_outs;

-- name: InsightPressureClear :exec
DELETE FROM insight_pressure_daily WHERE day = @day;

-- name: InsightPressureDay :exec
-- One closed day's contact-days by tier and messages received in the 30
-- days before, with the negative events of those contacts that day. One
-- pass over contacts and over the 30 days of exposure rows: O(contacts +
-- recent deliveries). A contact counts from the day it was created until
-- the day it unsubscribed, complained or hard-bounced (that day included:
-- its event belongs to it); a contact not active now with no such event
-- on record (imported inactive) does not count. Its tier is that of its
-- latest message in the 30 days, else its effective tier now.
-- ($1 is the day, $2 insight.PressureCap; named parameters trip sqlc here.)
INSERT INTO insight_pressure_daily (day, tier, received, contact_days, events)
SELECT $1::date,
       coalesce(s.tier, CASE WHEN p.key IS NOT NULL AND p.rank < a.rank THEN p.key ELSE a.key END),
       least(coalesce(s.n, 0), $2::int), count(*), coalesce(sum(neg.n), 0)
FROM contacts c
JOIN tiers a ON a.key = c.tier
LEFT JOIN tiers p ON p.key = c.preferred_tier
LEFT JOIN (
    SELECT x.contact_id, sum(x.n)::int AS n, (array_agg(x.tier ORDER BY x.day DESC))[1] AS tier
    FROM insight_contact_sends x WHERE x.day >= $1::date - 30 AND x.day < $1::date
    GROUP BY x.contact_id
) s ON s.contact_id = c.id
LEFT JOIN (
    SELECT e.contact_id, min(e.day) AS gone_day FROM insight_events e
    WHERE e.kind IN ('unsubscribe', 'complaint', 'hard_bounce') GROUP BY e.contact_id
) g ON g.contact_id = c.id
LEFT JOIN (
    SELECT e.contact_id, sum(e.n) AS n FROM insight_events e
    WHERE e.day = $1::date AND e.kind IN ('unsubscribe', 'complaint', 'downgrade', 'pause') GROUP BY e.contact_id
) neg ON neg.contact_id = c.id
WHERE c.created_at < $1::date + 1 AND (g.gone_day IS NULL OR g.gone_day >= $1::date) AND (c.status = 'active' OR g.gone_day IS NOT NULL)
GROUP BY 2, 3;

-- name: InsightFatigueWeeks :many
-- Fatigue per tier and ISO week (weeks start on Monday).
SELECT tier, date_trunc('week', day)::date AS week,
       sum(sent)::bigint AS sent, sum(unsubscribes)::bigint AS unsubscribes, sum(complaints)::bigint AS complaints,
       sum(hard_bounces)::bigint AS hard_bounces, sum(downgrades)::bigint AS downgrades, sum(pauses)::bigint AS pauses,
       sum(topic_opt_outs)::bigint AS topic_opt_outs
FROM insight_daily
WHERE day >= @from_day AND day <= @to_day AND (@tier::text = '' OR tier = @tier::text)
GROUP BY tier, 2
ORDER BY tier, 2;

-- name: InsightFatigueCampaigns :many
-- Fatigue per tier and campaign over the period (campaign 0: events no
-- campaign had reached in the 7 days before).
SELECT i.tier, i.campaign_id, coalesce(c.name, '')::text AS name,
       sum(i.sent)::bigint AS sent, sum(i.unsubscribes)::bigint AS unsubscribes, sum(i.complaints)::bigint AS complaints,
       sum(i.hard_bounces)::bigint AS hard_bounces, sum(i.downgrades)::bigint AS downgrades, sum(i.pauses)::bigint AS pauses,
       sum(i.topic_opt_outs)::bigint AS topic_opt_outs
FROM insight_daily i LEFT JOIN campaigns c ON c.id = i.campaign_id
WHERE i.day >= @from_day AND i.day <= @to_day AND (@tier::text = '' OR i.tier = @tier::text)
GROUP BY i.tier, i.campaign_id, c.name
ORDER BY i.tier, i.campaign_id;

-- name: InsightPressure :many
SELECT tier, received, sum(contact_days)::bigint AS contact_days, sum(events)::bigint AS events
FROM insight_pressure_daily
WHERE day >= @from_day AND day <= @to_day AND (@tier::text = '' OR tier = @tier::text)
GROUP BY tier, received
ORDER BY tier, received;

-- name: InsightState :one
SELECT events_through, days_through, updated_at FROM insight_state;

-- name: InsightTuneTx :exec
-- For the rest of a rollup transaction: aggregate in memory (a day's
-- exposure is a hash of every recently mailed contact) and without
-- parallel workers, each of which would build that hash again.
SELECT set_config('work_mem', '64MB', true), set_config('max_parallel_workers_per_gather', '0', true);
