-- The part of River's schema that rapport's own queries read, for sqlc only:
-- River creates and migrates the real tables (rivermigrate).
CREATE TYPE river_job_state AS ENUM ('available', 'cancelled', 'completed', 'discarded', 'pending', 'retryable', 'running', 'scheduled');
CREATE TABLE river_job (
    id bigint PRIMARY KEY,
    kind text NOT NULL,
    queue text NOT NULL,
    state river_job_state NOT NULL,
    attempt smallint NOT NULL,
    max_attempts smallint NOT NULL,
    attempted_at timestamptz,
    attempted_by text[]
);
CREATE TABLE river_leader (
    elected_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    leader_id text NOT NULL,
    name text PRIMARY KEY
);
