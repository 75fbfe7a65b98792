-- +goose Up
-- An erased contact gets a status of its own. The row stays (deliveries
-- refer to it) under a placeholder address, and its real address is kept
-- only as a hash in suppressions, which can no longer match the row: the
-- status is what keeps an erased row from ever being mailed (every
-- category, transactional too), opened through an old link or turned
-- active again.
ALTER TABLE contacts DROP CONSTRAINT contacts_status_check;
ALTER TABLE contacts ADD CONSTRAINT contacts_status_check
    CHECK (status IN ('active', 'unsubscribed', 'bounced', 'complained', 'erased'));
-- Contacts erased before: their placeholder address says so. Their
-- deliveries still waiting are skipped, and the server replies kept with
-- the others (which may name the address) are dropped.
UPDATE contacts SET status = 'erased' WHERE email LIKE 'erased-%@erased.invalid';
UPDATE deliveries d SET state = 'skipped', reason = 'unsubscribed', rule = ''
FROM contacts c WHERE c.id = d.contact_id AND c.status = 'erased' AND d.state = 'scheduled';
UPDATE deliveries d SET rule = ''
FROM contacts c WHERE c.id = d.contact_id AND c.status = 'erased' AND d.rule <> ''
  AND (d.state IN ('failed', 'unknown') OR d.smtp_code IS NOT NULL);

-- +goose Down
UPDATE contacts SET status = 'unsubscribed' WHERE status = 'erased';
ALTER TABLE contacts DROP CONSTRAINT contacts_status_check;
ALTER TABLE contacts ADD CONSTRAINT contacts_status_check
    CHECK (status IN ('active', 'unsubscribed', 'bounced', 'complained'));
