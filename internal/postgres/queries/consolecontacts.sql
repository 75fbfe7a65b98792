-- The contact list's queries, one per way it is narrowed, so that each
-- walks an index in id order whatever plan PostgreSQL caches for it.

-- name: ContactFind :many
-- The contacts whose email (stored lower-cased) or external id is exactly
-- the one searched for: two unique indexes, so at most two rows.
SELECT * FROM contacts WHERE email = @email OR external_id = @external_id ORDER BY id;

-- name: ContactListByTier :many
-- contacts_tier_idx (tier, id).
SELECT * FROM contacts
WHERE tier = @tier AND id > @after_id
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
ORDER BY id
LIMIT @lim;

-- name: ContactListInactive :many
-- contacts_inactive_idx (status, id) WHERE status <> 'active': the
-- repeated condition lets even a generic plan use the partial index.
SELECT * FROM contacts
WHERE status = @status AND status <> 'active' AND id > @after_id
  AND (sqlc.narg(tier)::text IS NULL OR tier = sqlc.narg(tier))
ORDER BY id
LIMIT @lim;

-- name: ContactsEstimate :one
-- How many contacts there are, from the planner's statistics scaled to the
-- table's current size (as the planner itself does); -1 when the table
-- has never been analysed.
SELECT (CASE WHEN c.relpages > 0 AND c.reltuples >= 0
             THEN c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::int)
             ELSE -1 END)::bigint AS n
FROM pg_catalog.pg_class c WHERE c.oid = 'contacts'::regclass;

-- name: ContactsCount :one
SELECT count(*)::bigint FROM contacts;

-- name: AuditScrubContactUpdates :exec
-- Erasure also removes what contact updates recorded (names, addresses,
-- external ids, attributes) from the audit log; who changed the contact,
-- and when, stays.
UPDATE audit_log SET before = NULL, after = NULL
WHERE entity = 'contact' AND entity_id = @contact_id::text AND action = 'update';
