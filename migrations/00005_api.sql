-- +goose Up
-- Idempotency-Key records: written in the same transaction as the action
-- they guard (campaign creation, send), so a retried request can never act
-- twice, even if the first answer was lost.
CREATE TABLE idempotency_keys (
    api_key_id   bigint NOT NULL,
    idem_key     text NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 255),
    route        text NOT NULL,
    request_hash bytea NOT NULL,
    resource_id  bigint NOT NULL,
    run_id       bigint,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, idem_key)
);
CREATE INDEX audit_log_id_idx ON audit_log (id DESC);

-- +goose Down
DROP INDEX audit_log_id_idx;
DROP TABLE idempotency_keys;
