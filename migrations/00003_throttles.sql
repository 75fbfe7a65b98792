-- +goose Up
-- Send-rate limits (SPEC point 7), shared by every worker process.
--
-- throttle_rates holds what admins configured: key 'global' is the global
-- rate, 'domain:<name>' a recipient domain's. 0 means "no limit of its own".
-- Put replaces the whole set in one audited transaction.
CREATE TABLE throttle_rates (
    key        text PRIMARY KEY CHECK (key = 'global' OR key ~ '^domain:[a-z0-9.-]+$'),
    per_second double precision NOT NULL CHECK (per_second >= 0 AND per_second <= 1000000),
    updated_at timestamptz NOT NULL
);

-- throttle_buckets is the run-time state of one limited key. Reservations
-- lock the rows of a batch's keys (FOR UPDATE, in key order, so concurrent
-- batches cannot deadlock) and rewrite the key's calendar of 50 ms quanta:
--   full_until: every quantum before this index (unix time / 50 ms) is full
--               at full_per_q slots per quantum — the calendar's equivalent
--               of a GCRA theoretical arrival time;
--   used:       from full_until on, the quanta holding some slots but not
--               full, encoded by the application (uvarint pairs) because only
--               it reads them. Unlike a single arrival time, these holes let
--               a message that may go now use a quantum that a slower
--               domain's message had to skip, without ever exceeding a rate.
--   slowed_*:   the back-off after a 4xx "slow down" answer (domains only):
--               the halved rate, when it was halved, until when it holds,
--               the rate it doubles back to afterwards (one step a period).
-- A row exists for the global key and for every domain that has a rate or
-- was slowed down; a domain without a row is only limited by the global key.
CREATE TABLE throttle_buckets (
    key               text PRIMARY KEY,
    full_until        bigint NOT NULL DEFAULT 0,
    full_per_q        double precision NOT NULL DEFAULT 0,
    used              bytea NOT NULL DEFAULT '',
    slowed_per_second double precision,
    slowed_at         timestamptz,
    slowed_until      timestamptz,
    slow_ceiling      double precision,
    slow_period_ms    bigint
);
INSERT INTO throttle_buckets (key) VALUES ('global');

-- +goose Down
DROP TABLE throttle_buckets;
DROP TABLE throttle_rates;
