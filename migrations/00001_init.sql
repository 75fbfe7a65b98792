-- +goose Up
-- Tiers: relationship levels and their cadence rules. The rule is kept as
-- the API's JSON form (caps, min_gap, target_interval, send_window) because
-- it is read and written whole; every change bumps version and is audited.
CREATE TABLE tiers (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name        text NOT NULL CHECK (name <> ''),
    description text NOT NULL DEFAULT '',
    rank        integer NOT NULL,
    selectable  boolean NOT NULL DEFAULT false,
    rule        jsonb NOT NULL,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE topics (
    key        text PRIMARY KEY CHECK (key ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name       text NOT NULL CHECK (name <> ''),
    created_at timestamptz NOT NULL
);

-- Contacts. Emails are stored lower-cased, so uniqueness is case-insensitive.
-- last_sent_at feeds the overdue list (follow-up discipline) without
-- scanning deliveries.
CREATE TABLE contacts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email            text NOT NULL CHECK (email = lower(email)),
    external_id      text,
    name             text NOT NULL DEFAULT '',
    locale           text NOT NULL DEFAULT 'en',
    timezone         text NOT NULL DEFAULT '',
    tier             text NOT NULL REFERENCES tiers (key),
    preferred_tier   text REFERENCES tiers (key),
    topics_opted_out text[] NOT NULL DEFAULT '{}',
    paused_until     timestamptz,
    attributes       jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'unsubscribed', 'bounced', 'complained')),
    last_sent_at     timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX contacts_email_idx ON contacts (email);
CREATE UNIQUE INDEX contacts_external_id_idx ON contacts (external_id) WHERE external_id IS NOT NULL;
CREATE INDEX contacts_tier_idx ON contacts (tier, id);

-- Campaigns: content, variants and audience are JSON documents validated by
-- the application; schedule is send_at or cron + timezone.
CREATE TABLE campaigns (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                  text NOT NULL CHECK (name <> ''),
    topic                 text REFERENCES topics (key),
    category              text NOT NULL CHECK (category IN ('marketing', 'transactional')),
    priority              integer NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100),
    content               jsonb NOT NULL,
    variants              jsonb NOT NULL DEFAULT '{}',
    audience              jsonb NOT NULL DEFAULT '{}',
    send_at               timestamptz,
    cron                  text NOT NULL DEFAULT '',
    timezone              text NOT NULL DEFAULT '',
    expires_after_seconds bigint NOT NULL DEFAULT 0 CHECK (expires_after_seconds >= 0),
    status                text NOT NULL DEFAULT 'draft'
                          CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'canceled')),
    next_fire_at          timestamptz,
    created_by            text NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);

-- A run is one firing of a campaign. (campaign_id, fire_at) is unique so a
-- recurring firing creates its run exactly once, whoever fires it.
CREATE TABLE campaign_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id bigint NOT NULL REFERENCES campaigns (id),
    fire_at     timestamptz NOT NULL,
    expires_at  timestamptz,
    status      text NOT NULL DEFAULT 'planning'
                CHECK (status IN ('planning', 'planned', 'completed', 'canceled')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (campaign_id, fire_at)
);

-- Deliveries: one per (run, contact), ever. Marketing deliveries that are
-- scheduled, sending, sent or unknown count against caps, at sent_at when
-- known, else planned_for.
CREATE TABLE deliveries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint NOT NULL REFERENCES campaign_runs (id),
    campaign_id bigint NOT NULL REFERENCES campaigns (id),
    contact_id  bigint NOT NULL REFERENCES contacts (id),
    marketing   boolean NOT NULL,
    priority    integer NOT NULL,
    tier        text NOT NULL,
    state       text NOT NULL
                CHECK (state IN ('scheduled', 'sending', 'sent', 'skipped', 'failed', 'unknown')),
    reason      text NOT NULL,
    rule        text NOT NULL DEFAULT '',
    planned_for timestamptz NOT NULL,
    expires_at  timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    message_id  text,
    sent_at     timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (run_id, contact_id)
);
CREATE INDEX deliveries_cap_idx ON deliveries (contact_id, (coalesce(sent_at, planned_for)))
    WHERE marketing AND state IN ('scheduled', 'sending', 'sent', 'unknown');
CREATE INDEX deliveries_campaign_idx ON deliveries (campaign_id, id);
CREATE INDEX deliveries_contact_idx ON deliveries (contact_id, id);

-- Suppressions are keyed by the SHA-256 of the lower-cased address so an
-- erased contact stays suppressed with no personal data left: email is then
-- NULL.
CREATE TABLE suppressions (
    email_hash bytea PRIMARY KEY,
    email      text,
    reason     text NOT NULL CHECK (reason IN ('unsubscribe', 'hard_bounce', 'complaint', 'manual', 'erased')),
    created_at timestamptz NOT NULL
);

-- API keys: only a SHA-256 of the secret is kept; prefix finds the row.
CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CHECK (name <> ''),
    role         text NOT NULL CHECK (role IN ('admin', 'marketer', 'viewer')),
    prefix       text NOT NULL UNIQUE,
    secret_hash  bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor      text NOT NULL,
    action     text NOT NULL,
    entity     text NOT NULL,
    entity_id  text NOT NULL,
    before     jsonb,
    after      jsonb,
    created_at timestamptz NOT NULL
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id, id);

-- Contact events: preference changes and other non-delivery facts shown in a
-- contact's timeline.
CREATE TABLE contact_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}',
    actor      text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX contact_events_contact_idx ON contact_events (contact_id, id);

-- +goose Down
DROP TABLE contact_events;
DROP TABLE audit_log;
DROP TABLE api_keys;
DROP TABLE suppressions;
DROP TABLE deliveries;
DROP TABLE campaign_runs;
DROP TABLE campaigns;
DROP TABLE contacts;
DROP TABLE topics;
DROP TABLE tiers;
