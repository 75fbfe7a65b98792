-- name: SignalInsert :one
INSERT INTO contact_signals (contact_id, type, at, detail, actor, created_at)
VALUES (@contact_id, @type, @at, @detail, @actor, @now)
RETURNING *;

-- name: DriftCandidates :many
-- Contacts (of a tier, or all) that a drift rule could fire for, in id
-- order: a preferred tier, a recent signal, a recent pause or topic
-- opt-out (from the insight ledger), or no message since the cutoff of
-- their assigned tier (the caller passes, per tier, now minus the overdue
-- factor times the target interval; tiers without a target are left out).
WITH cut AS (
    SELECT unnest(@keys::text[]) AS tier_key, unnest(@cutoffs::timestamptz[]) AS cutoff
)
SELECT c.* FROM contacts c
LEFT JOIN cut ON cut.tier_key = c.tier
WHERE c.id > @after_id AND c.status = 'active' AND (@tier::text = '' OR c.tier = @tier::text)
  AND (c.preferred_tier IS NOT NULL
       OR coalesce((SELECT ls.last_sent_at FROM contact_last_sent ls WHERE ls.contact_id = c.id), c.created_at) < cut.cutoff
       OR EXISTS (SELECT 1 FROM contact_signals s WHERE s.contact_id = c.id AND s.at > @since)
       OR EXISTS (SELECT 1 FROM insight_events e WHERE e.contact_id = c.id AND e.at > @since
                  AND e.kind IN ('pause', 'topic_opt_out')))
ORDER BY c.id
LIMIT @lim;

-- name: DriftSignals :many
SELECT id, contact_id, type, at FROM contact_signals
WHERE contact_id = ANY(@ids::bigint[]) AND at > @since ORDER BY contact_id, at, id;

-- name: DriftLedger :many
SELECT event_id, contact_id, kind, n, at FROM insight_events
WHERE contact_id = ANY(@ids::bigint[]) AND at > @since AND kind IN ('pause', 'topic_opt_out')
ORDER BY contact_id, at, event_id;

-- name: DriftPreferenceChosen :many
-- When each contact chose the preferred tier they have: their latest
-- preference change that set it.
SELECT DISTINCT ON (contact_id) contact_id, created_at FROM contact_events
WHERE contact_id = ANY(@ids::bigint[]) AND kind = 'preferences_changed'
  AND detail -> 'before' ->> 'preferred_tier' IS DISTINCT FROM detail -> 'after' ->> 'preferred_tier'
ORDER BY contact_id, id DESC;

-- name: DriftDecided :many
SELECT contact_id, fingerprint FROM drift_decisions WHERE contact_id = ANY(@ids::bigint[]);

-- name: DriftDecisionInsert :exec
INSERT INTO drift_decisions (contact_id, fingerprint, decision, from_tier, to_tier, actor, created_at)
VALUES (@contact_id, @fingerprint, @decision, @from_tier, @to_tier, @actor, @now)
ON CONFLICT (contact_id, fingerprint) DO UPDATE SET decision = EXCLUDED.decision, actor = EXCLUDED.actor, created_at = EXCLUDED.created_at;

-- name: DriftThresholdList :many
SELECT * FROM drift_thresholds ORDER BY tier;

-- name: DriftThresholdUpsert :exec
INSERT INTO drift_thresholds (tier, preference_age, pauses, pause_window, opt_outs, opt_out_window, overdue_factor,
                              closer_signals, closer_window, updated_at)
VALUES (@tier, @preference_age, @pauses, @pause_window, @opt_outs, @opt_out_window, @overdue_factor,
        @closer_signals, @closer_window, @now)
ON CONFLICT (tier) DO UPDATE SET preference_age = EXCLUDED.preference_age, pauses = EXCLUDED.pauses,
    pause_window = EXCLUDED.pause_window, opt_outs = EXCLUDED.opt_outs, opt_out_window = EXCLUDED.opt_out_window,
    overdue_factor = EXCLUDED.overdue_factor, closer_signals = EXCLUDED.closer_signals,
    closer_window = EXCLUDED.closer_window, updated_at = EXCLUDED.updated_at;

-- name: ReplayContacts :many
-- A page of the contacts whose effective tier (the stricter of assigned
-- and preferred) is @tier, in id order.
SELECT c.id, c.timezone FROM contacts c
JOIN tiers a ON a.key = c.tier
LEFT JOIN tiers p ON p.key = c.preferred_tier
WHERE c.id > @after_id
  AND (CASE WHEN p.key IS NOT NULL AND p.rank < a.rank THEN p.key ELSE a.key END) = @tier::text
ORDER BY c.id
LIMIT @lim;

-- name: ReplayDeliveries :many
-- The marketing deliveries of a page of contacts that a replay reads: those
-- of runs fired since @since (the period and, before it, the history its
-- first decisions depend on) and those still scheduled.
SELECT d.id, d.contact_id, d.campaign_id, d.priority, d.created_at, r.fire_at, d.expires_at, d.state, d.reason,
       d.planned_for, d.sent_at
FROM deliveries d JOIN campaign_runs r ON r.id = d.run_id
WHERE d.contact_id = ANY(@ids::bigint[]) AND d.marketing AND (r.fire_at >= @since OR d.state = 'scheduled')
ORDER BY d.contact_id, d.created_at, d.id;

-- name: ContactsLastSent :many
SELECT contact_id, last_sent_at FROM contact_last_sent WHERE contact_id = ANY(@ids::bigint[]);

-- name: CampaignsRecurring :many
SELECT * FROM campaigns WHERE cron <> '' AND status IN ('scheduled', 'running') ORDER BY id;
