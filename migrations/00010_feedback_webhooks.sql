-- +goose Up
-- Settings of this installation, such as the random id that makes its
-- Message-IDs unique across installations (a staging copy, a reset
-- database): mailbox providers drop a message whose Message-ID they saw.
CREATE TABLE settings (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    created_at timestamptz NOT NULL
);

-- What a mailbox provider said about a delivery after the server accepted
-- it: a bounce that came back, a complaint. The delivery stays sent (it
-- was handed over); this records its fate.
ALTER TABLE deliveries ADD COLUMN feedback text CHECK (feedback IN ('hard_bounce', 'soft_bounce', 'complaint'));
ALTER TABLE deliveries ADD COLUMN feedback_at timestamptz;

-- Inbound bounce and complaint reports already applied, by source and the
-- source's own event id, so a provider's retry changes nothing.
CREATE TABLE inbound_events (
    source      text NOT NULL,
    event_id    text NOT NULL,
    kind        text NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (source, event_id)
);

-- Outbound webhooks to the company's CRM. The secret signs every request
-- (Standard Webhooks), so it is kept — encrypted with a key derived from
-- SECRET_KEY — not hashed.
CREATE TABLE webhook_endpoints (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url             text NOT NULL,
    events          text[] NOT NULL,
    secret_sealed   bytea NOT NULL,
    description     text NOT NULL DEFAULT '',
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    failing_since   timestamptz,
    disabled_at     timestamptz,
    disabled_reason text NOT NULL DEFAULT ''
);

-- The outbox: one row per event, written in the same transaction as the
-- change it describes. event_id is stable: every retry carries it.
CREATE TABLE webhook_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   text NOT NULL UNIQUE,
    type       text NOT NULL,
    contact_id bigint,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL
);
-- Erasure finds a contact's events by id, or by address for an address
-- suppressed before it was a contact.
CREATE INDEX webhook_events_contact_idx ON webhook_events (contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX webhook_events_email_idx ON webhook_events ((payload->'data'->>'email')) WHERE contact_id IS NULL;
CREATE INDEX webhook_events_created_idx ON webhook_events (created_at);

-- One event's way to one endpoint. Events for the same contact go in
-- order: a message waits while an older one for the same (endpoint,
-- contact) is still pending.
CREATE TABLE webhook_messages (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id   bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_pk      bigint NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    order_key     text NOT NULL,
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts      integer NOT NULL DEFAULT 0,
    next_at       timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    delivered_at  timestamptz,
    UNIQUE (endpoint_id, event_pk)
);
CREATE INDEX webhook_messages_pending_idx ON webhook_messages (endpoint_id, order_key, id) WHERE state = 'pending';

-- Every attempt, for the endpoint's delivery log.
CREATE TABLE webhook_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    message_id  bigint NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL,
    status_code integer NOT NULL,
    latency_ms  integer NOT NULL,
    error       text NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_endpoint_idx ON webhook_attempts (endpoint_id, id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_messages;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
DROP TABLE inbound_events;
ALTER TABLE deliveries DROP COLUMN feedback_at;
ALTER TABLE deliveries DROP COLUMN feedback;
DROP TABLE settings;
