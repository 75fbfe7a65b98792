-- +goose Up
-- Soft bounces are counted per contact; after SOFT_BOUNCE_LIMIT of them
-- within 30 days the address is suppressed like a hard bounce.
ALTER TABLE contacts ADD COLUMN soft_bounces integer NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN soft_bounced_at timestamptz;
-- Suppressions get an id for stable cursor paging.
ALTER TABLE suppressions ADD COLUMN id bigint NOT NULL GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX suppressions_id_idx ON suppressions (id);

-- +goose Down
DROP INDEX suppressions_id_idx;
ALTER TABLE suppressions DROP COLUMN id;
ALTER TABLE contacts DROP COLUMN soft_bounced_at;
ALTER TABLE contacts DROP COLUMN soft_bounces;
