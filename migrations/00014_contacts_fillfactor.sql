-- +goose Up
-- Every marketing message updates its contact's last_sent_at. No index
-- covers that column, so the update can be HOT (no index touched) when
-- the row's page has room for the new version; contacts loaded by COPY or
-- import fill their pages to the brim, and then every such update wrote
-- all five contact indexes. A fifth of each page is kept free. Existing
-- pages keep their fill until rewritten (VACUUM FULL or pg_repack).
ALTER TABLE contacts SET (fillfactor = 80);

-- +goose Down
ALTER TABLE contacts RESET (fillfactor);
