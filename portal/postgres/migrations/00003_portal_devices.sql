-- +goose Up
-- Devices a user has logged in from (portal.Accounts.Login): a login that
-- presents one of its account's device tokens counts against that device's
-- attempts rather than the account's, so failures from elsewhere cannot
-- lock the owner out. Stored as hashes, like sessions; kept apart from them
-- because a device outlives logout and session expiry.
CREATE TABLE portal_devices (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    bigint      NOT NULL REFERENCES portal_users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    seq        bigint      GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX portal_devices_user_id ON portal_devices (user_id, seq);
CREATE INDEX portal_devices_expires_at ON portal_devices (expires_at);

-- +goose Down
DROP TABLE portal_devices;
