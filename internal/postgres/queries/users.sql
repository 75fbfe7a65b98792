-- name: UserInsert :one
INSERT INTO users (email, name, role, password_hash, must_change_password, password_changed_at, created_at, updated_at)
VALUES (@email, @name, @role, @password_hash, @must_change_password, @now, @now, @now)
RETURNING *;

-- name: UserByID :one
SELECT * FROM users WHERE id = $1;

-- name: UserByEmail :one
SELECT * FROM users WHERE lower(email) = lower(@email);

-- name: UserGetForUpdate :one
SELECT * FROM users WHERE id = $1 FOR UPDATE;

-- name: UserList :many
SELECT * FROM users WHERE id > @after_id ORDER BY id LIMIT @lim;

-- name: UserCount :one
SELECT count(*) FROM users;

-- name: UserSetPassword :one
-- A new password ends every session begun before it (they carry the old
-- password_changed_at).
UPDATE users SET password_hash = @password_hash, must_change_password = @must_change_password,
    password_changed_at = @now, updated_at = @now
WHERE id = @id
RETURNING *;

-- name: UserSetRole :one
UPDATE users SET role = @role, updated_at = @now WHERE id = @id RETURNING *;

-- name: UserSetDisabled :one
UPDATE users SET disabled_at = @disabled_at, updated_at = @now WHERE id = @id RETURNING *;

-- name: AdminUsersActive :one
SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL;

-- name: UsersLock :exec
-- Serializes role changes and disabling so two of them cannot both pass
-- the last-admin check.
SELECT pg_advisory_xact_lock(7240313);

-- name: LoginLock :exec
-- Serializes the count-then-record of sign-in attempts for one account or
-- one client address, so parallel guesses cannot all pass the limit.
SELECT pg_advisory_xact_lock(@key::bigint);

-- name: LoginAccountFailure :one
-- The skip+1-th most recent failure for an account since both the window
-- start and its last successful sign-in; none means it is under the limit.
SELECT f.created_at FROM login_attempts f
WHERE f.account_hash = @account_hash AND NOT f.ok AND f.created_at > @since::timestamptz
  AND f.created_at > coalesce((SELECT max(s.created_at) FROM login_attempts s
                               WHERE s.account_hash = @account_hash AND s.ok), '-infinity'::timestamptz)
ORDER BY f.created_at DESC
OFFSET @skip LIMIT 1;

-- name: LoginIPFailure :one
-- The skip+1-th most recent failure from a client address within the
-- window; successful sign-ins do not wipe the slate for an address.
SELECT created_at FROM login_attempts
WHERE ip = @ip AND NOT ok AND created_at > @since::timestamptz
ORDER BY created_at DESC
OFFSET @skip LIMIT 1;

-- name: LoginAttemptInsert :one
INSERT INTO login_attempts (account_hash, ip, ok, created_at)
VALUES (@account_hash, @ip, false, @now)
RETURNING id;

-- name: LoginAttemptSucceeded :exec
UPDATE login_attempts SET ok = true WHERE id = $1;

-- name: LoginAttemptsPrune :exec
DELETE FROM login_attempts WHERE created_at < @before::timestamptz;
