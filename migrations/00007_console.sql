-- +goose Up
-- The web console's people: email and password, with the API's roles. The
-- email is stored lower-cased and unique whatever its case; the password
-- only as an argon2id hash in PHC form ($argon2id$v=19$m=…,t=…,p=…$salt$key),
-- which carries its own parameters so they can be raised later.
-- password_changed_at ends every session started before it.
CREATE TABLE users (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email                text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role                 text NOT NULL CHECK (role IN ('admin', 'marketer', 'viewer')),
    password_hash        text NOT NULL,
    must_change_password boolean NOT NULL DEFAULT false,
    disabled_at          timestamptz,
    password_changed_at  timestamptz NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));

-- Console sessions, exactly as github.com/alexedwards/scs/pgxstore reads
-- and writes them (its README's table and index). The token column holds
-- a SHA-256 of the cookie's token, not the token itself
-- (scs HashTokenInStore), so a copy of this table opens no session.
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- Sign-in attempts, counted here rather than in memory so that every
-- process limits the same attempts. The account is a SHA-256 of the
-- lower-cased address as typed (existing or not), so the table keeps no
-- addresses and the limit says nothing about who has an account. Rows are
-- written as failures before the password is checked and marked ok after,
-- so concurrent guesses all count. Pruned after a day.
CREATE TABLE login_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_hash bytea NOT NULL,
    ip           text NOT NULL,
    ok           boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL
);
CREATE INDEX login_attempts_account_idx ON login_attempts (account_hash, created_at);
CREATE INDEX login_attempts_ip_idx ON login_attempts (ip, created_at);
CREATE INDEX login_attempts_created_idx ON login_attempts (created_at);

-- The console's audit log filters by who did it.
CREATE INDEX audit_log_actor_idx ON audit_log (actor, id);

-- +goose Down
DROP INDEX audit_log_actor_idx;
DROP TABLE login_attempts;
DROP TABLE sessions;
DROP TABLE users;
