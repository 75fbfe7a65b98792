-- name: PrefsLockContact :one
-- Every preference change starts by locking the contact row, the row the
-- send job locks for its whole batch: the change either commits before the
-- send-time check reads the contact (and is honoured) or waits until the
-- batch is handed to SMTP. That is what makes preference changes immediate.
SELECT * FROM contacts WHERE id = $1 FOR UPDATE;

-- name: PrefsUpdateContact :exec
-- Writes the whole customer-controlled state; the caller read and locked it.
UPDATE contacts
SET status = @status, preferred_tier = sqlc.narg(preferred_tier), topics_opted_out = @topics_opted_out,
    paused_until = sqlc.narg(paused_until), updated_at = @now
WHERE id = @id;

-- name: PrefsSuppression :one
-- The suppression reason on an address; empty when there is none.
SELECT coalesce((SELECT reason FROM suppressions WHERE email_hash = @email_hash), '')::text AS reason;

-- name: PrefsDeleteUnsubscribe :execrows
-- Lifts only an unsubscribe: bounces, complaints and manual suppressions are
-- never the customer's to remove.
DELETE FROM suppressions WHERE email_hash = @email_hash AND reason = 'unsubscribe';
