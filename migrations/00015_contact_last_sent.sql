-- +goose Up
-- When each contact last received marketing mail, in a table of its own.
--
-- Every marketing message moved contacts.last_sent_at, and that update
-- wrote the whole contact row again (name, attributes, opt-outs) and, when
-- the page had no room for the new version (most times: 00014 kept a
-- fifth free, which one campaign uses up), an entry in each of the
-- contact indexes. pg_stat_statements over the send benchmark put it at a
-- quarter of PostgreSQL's time on the send path, 57 µs a message. Here a
-- row is 40 bytes with one index, and half of each page is kept free, so
-- a send's update fits beside the old version (HOT: no index touched)
-- and the previous send's version is pruned by the time the next comes.
--
-- No foreign key, as for deliveries: the send path writes it for
-- contacts it holds locked, and contacts are never deleted (erasure
-- anonymises them). A contact never written to has no row.
--
-- contacts.last_sent_at stays, unread and no longer written, so that the
-- previous release's processes, which name it in their queries, keep
-- working while a rolling restart replaces them (what they write there in
-- that time is not carried over: the overdue list may count a contact
-- they mailed as overdue until its next message). A later migration drops
-- it, once no release in use reads it.
CREATE TABLE contact_last_sent (
    contact_id   bigint PRIMARY KEY,
    last_sent_at timestamptz NOT NULL
) WITH (fillfactor = 50);
INSERT INTO contact_last_sent (contact_id, last_sent_at)
SELECT id, last_sent_at FROM contacts WHERE last_sent_at IS NOT NULL;

-- +goose Down
UPDATE contacts c SET last_sent_at = s.last_sent_at FROM contact_last_sent s WHERE s.contact_id = c.id;
DROP TABLE contact_last_sent;
