-- +goose Up
-- Portal: users, their sessions, one-time tokens sent by email, and which
-- SIM cards each user has claimed. No foreign keys into other domains'
-- tables: an ICCID here is checked against the inventory when it is
-- claimed, and the domains migrate and evolve independently.

CREATE TABLE portal_users (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Stored lower-cased (portal.NormalizeEmail); unique as stored.
    email         text        NOT NULL UNIQUE CHECK (email <> '' AND email = lower(email)),
    name          text        NOT NULL CHECK (name <> ''),
    language      text        NOT NULL CHECK (language IN ('en', 'he', 'da', 'ru')),
    -- argon2id in the PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Sessions are looked up by the SHA-256 of their token; the token itself is
-- never stored.
CREATE TABLE portal_sessions (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES portal_users (id) ON DELETE CASCADE,
    token_hash bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    csrf_hash  bytea       NOT NULL CHECK (length(csrf_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX portal_sessions_user_id ON portal_sessions (user_id);
CREATE INDEX portal_sessions_expires_at ON portal_sessions (expires_at);

-- Password-reset and email-verification tokens: single use (used_at),
-- expiring, stored as hashes.
CREATE TABLE portal_tokens (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    kind       text        NOT NULL CHECK (kind IN ('password_reset', 'email_verification')),
    user_id    bigint      NOT NULL REFERENCES portal_users (id) ON DELETE CASCADE,
    email      text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CHECK ((kind = 'email_verification') = (email <> ''))
);
CREATE INDEX portal_tokens_user_id ON portal_tokens (user_id);

-- A card is on at most one account (the primary key): whoever claims it
-- first with its activation code has it until they remove it.
CREATE TABLE portal_sims (
    iccid    text        PRIMARY KEY CHECK (iccid ~ '^[0-9]{18,20}$'),
    user_id  bigint      NOT NULL REFERENCES portal_users (id) ON DELETE CASCADE,
    added_at timestamptz NOT NULL DEFAULT now(),
    seq      bigint      GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX portal_sims_user_id ON portal_sims (user_id, seq);

-- +goose Down
DROP TABLE portal_sims;
DROP TABLE portal_tokens;
DROP TABLE portal_sessions;
DROP TABLE portal_users;
