-- +goose Up
-- Every process that runs River workers beats here every few seconds, from
-- a goroutine of its own (never from job progress), so a process that died
-- (SIGKILL, a lost host) is told from one that is merely slow: the running
-- jobs of a client whose beat is stale are retried at once instead of after
-- RESCUE_AFTER. Times are the database's clock, the one clock every host
-- shares.
CREATE TABLE worker_heartbeats (
    client_id  text PRIMARY KEY,
    host       text NOT NULL,
    pid        integer NOT NULL,
    started_at timestamptz NOT NULL,
    beat_at    timestamptz NOT NULL
);

-- +goose Down
DROP TABLE worker_heartbeats;
