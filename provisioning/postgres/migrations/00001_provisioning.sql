-- +goose Up
-- Provisioning: SIM inventory, the subscriptions that use the cards, and the
-- requests that change them on the network.
--
-- Invariants held by the database, not only by the code:
--   * a SIM is on at most one subscription that has not ended
--     (subscriptions_iccid_live);
--   * a number is on at most one subscription that has not ended
--     (subscriptions_msisdn_live), and the SIM of such a subscription is
--     active (the deferred constraint triggers at the end), so a number is
--     never on two active SIMs;
--   * a SIM is reserved exactly when a request reserved it (sims_reserved).

CREATE TABLE sims (
    iccid           text        PRIMARY KEY CHECK (iccid ~ '^[0-9]{18,20}$'),
    imsi            text        NOT NULL UNIQUE CHECK (imsi ~ '^[0-9]{14,15}$'),
    -- HMAC-SHA256 of the printed activation code (provisioning.ActivationHasher).
    activation_hash bytea       NOT NULL CHECK (length(activation_hash) = 32),
    state           text        NOT NULL DEFAULT 'in_stock'
                                CHECK (state IN ('in_stock', 'reserved', 'active', 'retired')),
    reserved_by     uuid,       -- the request that reserved it (FK below)
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sims_reserved CHECK ((state = 'reserved') = (reserved_by IS NOT NULL))
);

CREATE TABLE accounts (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL CHECK (name <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscribers (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint      NOT NULL REFERENCES accounts (id),
    name       text        NOT NULL CHECK (name <> ''),
    email      text        NOT NULL DEFAULT '',
    language   text        NOT NULL CHECK (language <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscribers_account_id ON subscribers (account_id);

CREATE TABLE plans (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text   NOT NULL UNIQUE CHECK (name <> ''),
    apn          text   NOT NULL CHECK (apn <> ''),
    apn_username text   NOT NULL DEFAULT '',
    apn_password text   NOT NULL DEFAULT ''
);

CREATE TABLE subscriptions (
    id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id      bigint      NOT NULL REFERENCES subscribers (id),
    plan_id            bigint      NOT NULL REFERENCES plans (id),
    msisdn             text        NOT NULL CHECK (msisdn ~ '^[1-9][0-9]{0,14}$'),
    iccid              text        NOT NULL REFERENCES sims (iccid),
    status             text        NOT NULL
                                   CHECK (status IN ('pending', 'active', 'suspended', 'ended')),
    start_date         date        NOT NULL,
    end_date           date        CHECK (end_date > start_date),
    voicemail_enabled  boolean     NOT NULL DEFAULT false,
    voicemail_language text        NOT NULL DEFAULT '',
    dates_version      integer     NOT NULL DEFAULT 0 CHECK (dates_version >= 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX subscriptions_msisdn_live ON subscriptions (msisdn) WHERE status <> 'ended';
CREATE UNIQUE INDEX subscriptions_iccid_live ON subscriptions (iccid) WHERE status <> 'ended';
CREATE INDEX subscriptions_subscriber_id ON subscriptions (subscriber_id);

CREATE TABLE forwarding (
    subscription_id bigint NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    condition       text   NOT NULL
                           CHECK (condition IN ('unconditional', 'busy', 'no_reply', 'not_reachable')),
    number          text   NOT NULL CHECK (number ~ '^[1-9][0-9]{0,14}$'),
    PRIMARY KEY (subscription_id, condition)
);

CREATE TABLE provisioning_requests (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The order requests were made in; a subscription's requests run in it.
    seq             bigserial   NOT NULL UNIQUE,
    subscription_id bigint      NOT NULL REFERENCES subscriptions (id),
    kind            text        NOT NULL
                                CHECK (kind IN ('sim_swap', 'voicemail', 'forwarding', 'apn_sms', 'dates',
                                                'suspend', 'resume', 'activate', 'deactivate')),
    params          jsonb       NOT NULL DEFAULT '{}',
    state           text        NOT NULL DEFAULT 'pending'
                                CHECK (state IN ('pending', 'in_progress', 'done', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      text        NOT NULL DEFAULT '',
    outcome         jsonb,
    requested_by    text        NOT NULL DEFAULT '',
    not_before      timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- StartRequest looks for earlier open requests of the same subscription.
CREATE INDEX provisioning_requests_open ON provisioning_requests (subscription_id, seq)
    WHERE state IN ('pending', 'in_progress');
-- ListRequests: a subscription's history, newest first.
CREATE INDEX provisioning_requests_subscription ON provisioning_requests (subscription_id, seq);

ALTER TABLE sims ADD CONSTRAINT sims_reserved_by_fkey
    FOREIGN KEY (reserved_by) REFERENCES provisioning_requests (id);
CREATE INDEX sims_reserved_by ON sims (reserved_by) WHERE reserved_by IS NOT NULL;

CREATE TABLE request_messages (
    message_id text        PRIMARY KEY,
    request_id uuid        NOT NULL REFERENCES provisioning_requests (id) ON DELETE CASCADE,
    -- Submission order, so a request's parts come back in the order sent.
    seq        bigint      GENERATED ALWAYS AS IDENTITY,
    state      text        NOT NULL DEFAULT 'SUBMITTED',
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX request_messages_request_id ON request_messages (request_id, seq);

-- A subscription that has not ended must be on an active SIM. Checked at
-- commit, so a swap may retire the old card and activate the new one in
-- either order within its transaction. The functions read the rows as they
-- are at commit, not the row versions that fired them.
-- +goose StatementBegin
CREATE FUNCTION subscriptions_sim_active_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM subscriptions s
               WHERE s.id = NEW.id AND s.status <> 'ended'
                 AND NOT EXISTS (SELECT 1 FROM sims m WHERE m.iccid = s.iccid AND m.state = 'active')) THEN
        RAISE EXCEPTION 'subscription % is live on a SIM that is not active', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'subscriptions_sim_active';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION sims_live_subscription_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM sims m
               JOIN subscriptions s ON s.iccid = m.iccid AND s.status <> 'ended'
               WHERE m.iccid = NEW.iccid AND m.state <> 'active') THEN
        RAISE EXCEPTION 'SIM % left active while a live subscription uses it', NEW.iccid
            USING ERRCODE = 'check_violation', CONSTRAINT = 'subscriptions_sim_active';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE CONSTRAINT TRIGGER subscriptions_sim_active
    AFTER INSERT OR UPDATE OF iccid, status ON subscriptions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION subscriptions_sim_active_check();

CREATE CONSTRAINT TRIGGER sims_live_subscription
    AFTER UPDATE OF state ON sims
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION sims_live_subscription_check();

-- +goose Down
DROP TABLE request_messages;
ALTER TABLE sims DROP CONSTRAINT sims_reserved_by_fkey;
DROP TABLE provisioning_requests;
DROP TABLE forwarding;
DROP TABLE subscriptions;
DROP TABLE plans;
DROP TABLE subscribers;
DROP TABLE accounts;
DROP TABLE sims;
DROP FUNCTION sims_live_subscription_check();
DROP FUNCTION subscriptions_sim_active_check();
