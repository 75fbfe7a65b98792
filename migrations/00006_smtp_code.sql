-- +goose Up
-- The SMTP reply code of a delivery's last attempt (250, 4xx, 5xx; NULL
-- when there was none). A 5xx is what makes a failure a bounce: a send job
-- that died between recording it and suppressing the address finds it by
-- this code when it is retried. Not indexed, so sends stay HOT updates.
ALTER TABLE deliveries ADD COLUMN smtp_code integer;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN smtp_code;
