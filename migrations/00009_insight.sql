-- +goose Up
-- Relationship insight (SPEC "Relationship insight").
--
-- Company signals about a contact (a purchase, a reply, a meeting, a
-- support ticket), recorded through the API; the drift rules read them.
CREATE TABLE contact_signals (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    type       text NOT NULL CHECK (type IN ('purchase', 'reply', 'meeting', 'support_ticket')),
    at         timestamptz NOT NULL,
    detail     text NOT NULL DEFAULT '' CHECK (length(detail) <= 1000),
    actor      text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX contact_signals_contact_idx ON contact_signals (contact_id, at);
CREATE INDEX contact_signals_at_idx ON contact_signals (at);

-- Drift thresholds per tier; a tier without a row uses the defaults
-- (insight.DefaultThresholds). Durations in seconds.
CREATE TABLE drift_thresholds (
    tier           text PRIMARY KEY REFERENCES tiers (key) ON DELETE CASCADE,
    preference_age bigint NOT NULL,
    pauses         integer NOT NULL,
    pause_window   bigint NOT NULL,
    opt_outs       integer NOT NULL,
    opt_out_window bigint NOT NULL,
    overdue_factor double precision NOT NULL,
    closer_signals integer NOT NULL,
    closer_window  bigint NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- What admins decided about a drift suggestion, by the fingerprint of its
-- evidence: a dismissed suggestion is not made again for the same
-- evidence; new evidence has a new fingerprint.
CREATE TABLE drift_decisions (
    contact_id  bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    fingerprint text NOT NULL,
    decision    text NOT NULL CHECK (decision IN ('accepted', 'dismissed')),
    from_tier   text NOT NULL,
    to_tier     text NOT NULL,
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (contact_id, fingerprint)
);

-- The rollups behind fatigue and the pressure curve, kept by the
-- insight_rollup job (jobs/insight.go) so that reads never scan
-- deliveries. Days are UTC dates.
--
-- insight_events: one row per negative event read from contact_events
-- (insight.Classify), attributed when it is read: tier = the tier of the
-- contact's last delivery planned before it (else the contact's effective
-- tier then), campaign = the last campaign that sent to the contact in
-- the 7 days before (0: none). (event_id, kind) makes re-reading harmless.
CREATE TABLE insight_events (
    event_id    bigint NOT NULL,
    kind        text NOT NULL,
    n           integer NOT NULL,
    day         date NOT NULL,
    at          timestamptz NOT NULL,
    contact_id  bigint NOT NULL,
    tier        text NOT NULL,
    campaign_id bigint NOT NULL,
    PRIMARY KEY (event_id, kind)
);
CREATE INDEX insight_events_day_idx ON insight_events (day);
CREATE INDEX insight_events_contact_idx ON insight_events (contact_id, at);

-- insight_contact_sends: marketing messages sent to a contact on a day,
-- and the tier of the last of them: the exposure the pressure curve counts.
CREATE TABLE insight_contact_sends (
    day        date NOT NULL,
    contact_id bigint NOT NULL,
    n          integer NOT NULL,
    tier       text NOT NULL,
    PRIMARY KEY (day, contact_id)
);

-- insight_daily: per day, tier and campaign (0: none) the messages sent
-- and the negative events.
CREATE TABLE insight_daily (
    day            date NOT NULL,
    tier           text NOT NULL,
    campaign_id    bigint NOT NULL,
    sent           bigint NOT NULL DEFAULT 0,
    unsubscribes   bigint NOT NULL DEFAULT 0,
    complaints     bigint NOT NULL DEFAULT 0,
    hard_bounces   bigint NOT NULL DEFAULT 0,
    downgrades     bigint NOT NULL DEFAULT 0,
    pauses         bigint NOT NULL DEFAULT 0,
    topic_opt_outs bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, tier, campaign_id)
);

-- insight_pressure_daily: per closed day and tier, the contact-days at
-- each number of marketing messages received in the 30 days before
-- (capped at insight.PressureCap), and the negative events those
-- contacts had that day. Buckets are applied when read.
CREATE TABLE insight_pressure_daily (
    day          date NOT NULL,
    tier         text NOT NULL,
    received     integer NOT NULL,
    contact_days bigint NOT NULL,
    events       bigint NOT NULL,
    PRIMARY KEY (day, tier, received)
);

-- The rollup's watermarks: contact events read up to events_through (an
-- id), days closed up to days_through (their sends and pressure final).
CREATE TABLE insight_state (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    events_through bigint NOT NULL DEFAULT 0,
    days_through   date,
    updated_at     timestamptz
);
INSERT INTO insight_state DEFAULT VALUES;

-- A run's deliveries are found by their run; runs by firing time.
CREATE INDEX campaign_runs_fire_idx ON campaign_runs (fire_at);

-- +goose Down
DROP INDEX campaign_runs_fire_idx;
DROP TABLE insight_state;
DROP TABLE insight_pressure_daily;
DROP TABLE insight_daily;
DROP TABLE insight_contact_sends;
DROP TABLE insight_events;
DROP TABLE drift_decisions;
DROP TABLE drift_thresholds;
DROP TABLE contact_signals;
