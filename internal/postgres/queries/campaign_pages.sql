-- name: CampaignsNewest :many
-- The console's campaign lists, newest first, by status (campaigns are a
-- small table: a hundred, not a million).
SELECT * FROM campaigns
WHERE id < @before_id AND status = ANY(@statuses::text[])
ORDER BY id DESC LIMIT @lim;

-- name: ContactsByEmailFrom :many
-- Contacts in address order from an address on: with a prefix, the
-- addresses that start with it come first (one range scan of the unique
-- index on email).
SELECT * FROM contacts WHERE email >= @start::text ORDER BY email LIMIT @lim;
