-- +goose Up
-- The console's contact list filtered by a status other than active
-- (unsubscribed, bounced, complained: a few per cent of contacts) walks
-- this index in id order instead of the whole table. Active contacts,
-- nearly all of them, are not in it: an import, which creates active
-- contacts, does not pay for it. Email and external id searches use the
-- unique indexes of 00001.
CREATE INDEX contacts_inactive_idx ON contacts (status, id) WHERE status <> 'active';

-- +goose Down
DROP INDEX contacts_inactive_idx;
